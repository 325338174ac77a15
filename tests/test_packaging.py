"""Packaging that tells the truth: the extras users are told to install, a lower bound on every
dependency (``.ci/run`` installs exactly those and runs the fast tests), the conda files, and a
type checker that finds the package after the README's editable install."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
sys.path.insert(0, str(REPO / "scripts"))
from lowest_constraints import lowest, requirements  # noqa: E402

DEV_TOOLS = {"pytest", "mypy", "ruff", "schemathesis", "hypothesis", "nbclient", "ipykernel"}


def names(extra: str) -> set[str]:
    return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower() for r in requirements([extra])}


def test_all_holds_what_users_need_and_nothing_for_tests():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert all(extras.values()), "an empty extra"
    assert {"pandas", "pyarrow", "keyring", "python-dotenv", "ipywidgets", "altair"} <= names("all")
    assert not DEV_TOOLS & names("all")
    assert "browser" not in extras  # a test tool set: a dependency group, not an extra
    assert PYPROJECT["dependency-groups"]["browser"]
    # pyarrow is core (snapshots and lv.Dataset write provenance into the Arrow schema);
    # pandas only where it is needed: to_pandas(), and the tests
    core = {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0] for r in PYPROJECT["project"]["dependencies"]}
    assert "pyarrow" in core and "pandas" not in core
    assert [extra for extra in extras if "pandas" in names(extra)] == ["pandas", "all", "dev"]
    assert not {"numpy", "pandas"} & (names("widgets") | names("charts"))


def test_every_requirement_has_a_lower_bound():
    for requirement in requirements(["all", "dev", "dlt"]):
        assert lowest(requirement)  # raises for one without
    core = dict(lowest(r).split("==") for r in PYPROJECT["project"]["dependencies"])
    assert core["polars"] == "1.36.1"  # explode(empty_as_null=) came with 1.36; 1.36.0 is yanked
    # older orjson parses any depth (a 3000-deep body passes, a deeper one crashes the process)
    assert core["orjson"] == "3.9.15"
    # older dlt imports pkg_resources, gone from the setuptools it installs
    (dlt,) = PYPROJECT["project"]["optional-dependencies"]["dlt"]
    assert lowest(dlt) == "dlt==1.12.1"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lowest_constraints.py"), "all", "dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "polars==1.36.1" in done.stdout.splitlines()


def test_python_311_to_313_declared_and_run_by_ci():
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    classifiers = PYPROJECT["project"]["classifiers"]
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    ci = (REPO / ".ci" / "run").read_text()
    assert "lowest_constraints.py all dev" in ci and "for version in 3.12 3.13" in ci
    # an extra that does not import at the lowest versions fails CI, not only skips its tests
    assert re.search(r'\.venv-lowest/bin/python -c "import dlt, duckdb', ci)
    assert "SKIPPED" in ci  # a missing interpreter is said, not silently passed


def _yaml_items(path: Path) -> list[str]:
    """The list items of a conda environment file (its whole syntax here is this simple)."""
    return [
        line.strip()[2:].strip()
        for line in path.read_text().splitlines()
        if line.strip()[:2] == "- "
    ]


def test_environment_yml_is_for_users_and_dev_tools_stand_apart():
    users = _yaml_items(REPO / "environment.yml")
    dev = _yaml_items(REPO / "environment-dev.yml")
    assert "conda-forge" in users and "jupyterlab" in users
    assert '-e ".[all]"' in users and '-e ".[all,dev]"' in dev
    packages = {re.split(r"[<>=]", item, maxsplit=1)[0] for item in users}
    assert not DEV_TOOLS & packages
    assert {"pytest", "mypy", "ruff"} <= {re.split(r"[<>=]", i, maxsplit=1)[0] for i in dev}
    # every dependency of the project comes from conda-forge, at the same lower bound
    for requirement in requirements(["all"]):
        assert requirement.replace(" ", "") in users, f"{requirement} not in environment.yml"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_type_checkers_find_the_package_after_an_editable_install(tmp_path):
    """mypy, run where the package is only reachable as installed (not from the working
    folder), resolves ``import loketvalinso`` and its types."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed: pip install -e '.[dev]'")
    try:
        importlib.metadata.distribution("loketvalinso")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("loketvalinso is not installed (pip install -e .)")
    script = tmp_path / "analysis.py"
    script.write_text(
        "import polars as pl\n"
        "import loketvalinso as lv\n\n"
        "loket = lv.Loket.from_env(cache_ttl=600)\n"
        'frame: pl.DataFrame = loket.employees("employer", cache_ttl=0)\n'
        "reveal_type(loket.last_load)\n"
        'lv.enable_logging("INFO")\n'
    )
    # the package is analysed; the libraries it uses are not (they are not what is tested, and
    # polars alone would take a minute)
    skipped = ",".join(f"{name}.*" for name in ("polars", "httpx", "httpcore", "numpy", "pandas"))
    (tmp_path / "mypy.ini").write_text(f"[mypy]\n[mypy-{skipped}]\nfollow_imports = skip\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary", script.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert "Cannot find implementation or library stub" not in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Revealed type is "loketvalinso._load.report.LoadReport | None"' in done.stdout
