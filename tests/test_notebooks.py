"""The notebooks: committed clean, generated from scripts/make_notebooks.py, and each runs
top to bottom against the embedded mock (nbclient) with no secret in the saved result."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "01_quickstart.ipynb",
    "02_vends.ipynb",
    "03_leave_trends.ipynb",
    "04_caching_and_versions.ipynb",
    "05_write_back.ipynb",
}


def test_all_five_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "USE_REAL_APIS = False" in first_code.source
    assert any(c.cell_type == "markdown" for c in nb.cells[1:])


def test_notebooks_match_the_generator() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _kernel_name() -> str:
    """A kernel that runs this interpreter: the installed ``python3`` spec when it does, else a
    spec installed into this environment (``--sys-prefix``)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        spec = None
    # jupyter_client runs a bare "python" argv[0] with sys.executable.
    if spec is not None and spec.argv and spec.argv[0] in {"python", "python3", sys.executable}:
        return "python3"
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "loketvalinso-py"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return "loketvalinso-py"


@pytest.fixture(scope="session")
def kernel_name() -> str:
    return _kernel_name()


@pytest.fixture(scope="session")
def mock_secrets() -> list[str]:
    from loketvalinso.mock.world import Credentials, WorldSizes, cached_world

    creds: Credentials = cached_world(42, WorldSizes(employers=1, employees=1, vends=1)).credentials
    return [creds.client_secret, creds.password, creds.valinso_api_key]


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_keeps_no_secret(
    path: Path, kernel_name: str, mock_secrets: list[str], tmp_path: Path
) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=90,  # per cell
        startup_timeout=60,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
    )
    client.execute()  # raises CellExecutionError on any error
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    text = saved.read_text()
    for secret in mock_secrets:
        assert secret not in text, f"{path.name}: a mock secret is in the saved notebook"
    # Tokens look like long random strings behind "Bearer" or in token fields: none saved.
    # (A dry run shows its credentials masked: "Bearer ***", "api-key: ***".)
    lowered = text.lower()
    for marker in ("bearer ", '"access_token"', '"refresh_token"', "api-key:"):
        shown = re.findall(re.escape(marker) + r"\s*(.{0,3})", lowered)
        assert all(after == "***" for after in shown), f"{path.name}: {marker!r} in the notebook"
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "error"
    ]
    assert not errors
    assert json.loads(text)["cells"]
