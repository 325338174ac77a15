"""The login widgets, the version picker and a chart, served by Voilà on loopback and clicked.

``widgets_app.ipynb`` (next to this file, committed without outputs) is served by Voilà on
127.0.0.1 with an ephemeral port. Its kernel runs the embedded mock (seed ``LV_BROWSER_SEED``),
so everything the page and the kernel talk to is on loopback.

Voilà's stock ``lab`` template links two FontAwesome stylesheets from cdn.jsdelivr.net (the same
icons are already bundled in its local ``voila-style.js``). The test serves a template
``lv-offline`` written into its temp dir: the installed ``lab/index.html.j2`` minus those two lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "widgets_app.ipynb"
SEED = 42
SERVER_START_TIMEOUT_S = 60


@dataclass
class VoilaServer:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _offline_template(root: Path) -> None:
    """``<root>/voila/templates/lv-offline``: Voilà's lab template without its CDN links."""
    from jupyter_core.paths import jupyter_path

    source = next(
        (
            Path(d) / "index.html.j2"
            for d in jupyter_path("voila", "templates", "lab")
            if (Path(d) / "index.html.j2").exists()
        ),
        None,
    )
    if source is None:
        pytest.skip("Voilà's lab template is not installed (pip install -e '.[browser]')")
    text = source.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if "cdn.jsdelivr.net" not in line]
    target = root / "voila" / "templates" / "lv-offline"
    target.mkdir(parents=True)
    (target / "index.html.j2").write_text("\n".join(kept) + "\n", encoding="utf-8")
    (target / "conf.json").write_text('{"base_template": "lab"}\n', encoding="utf-8")


def _kernel_spec(root: Path) -> None:
    """A ``python3`` kernel spec for *this* interpreter, first on JUPYTER_PATH."""
    import json

    kernel = root / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (loketvalinso browser tests)",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


@pytest.fixture(scope="module")
def voila_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaServer]:
    pytest.importorskip("voila", reason="Voilà is not installed: pip install -e '.[browser]'")
    pytest.importorskip("ipywidgets", reason="the widgets need the [widgets] extra")
    pytest.importorskip("anywidget", reason="Altair's offline notebook renderer needs anywidget")
    import httpx

    root = tmp_path_factory.mktemp("voila")
    jupyter = root / "jupyter"
    _offline_template(jupyter)
    _kernel_spec(jupyter)
    work = root / "work"
    work.mkdir()
    notebook = work / NOTEBOOK.name
    shutil.copy2(NOTEBOOK, notebook)  # Voilà and the kernel only ever see the temp copy
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_PATH": str(jupyter),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "IPYTHONDIR": str(root / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "LV_BROWSER_SEED": str(SEED),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    log = root / "voila.log"
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--template=lv-offline",
        "--show_tracebacks=True",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels end with it
        )
    server = VoilaServer(url=f"http://127.0.0.1:{port}/", process=process, log=log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"Voilà exited with {process.returncode}:\n{server.log_tail()}")
            try:
                # A static file: answering it does not start a kernel.
                r = httpx.get(f"{server.url}voila/static/voila.js", timeout=2, trust_env=False)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Voilà did not answer within {SERVER_START_TIMEOUT_S}s:\n{server.log_tail()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group we started (Voilà + its kernels), then SIGKILL if needed."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # kernels left behind in the group after Voilà itself ended
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def valinso_key() -> str:
    """The right api key of the kernel's mock (same seed, same world); never written anywhere."""
    from loketvalinso.mock.world import WorldSizes, cached_world

    return cached_world(SEED, WorldSizes()).credentials.valinso_api_key


def _option(select: Any, contains: str) -> str:
    values: list[str] = select.evaluate("e => [...e.options].map((o) => o.value)")
    match = [v for v in values if contains in v.lower()]
    assert match, f"no option containing {contains!r} in {values}"
    return match[0]


@pytest.mark.timeout(240)
def test_widgets_in_voila(guarded_page, shoot, voila_app: VoilaServer, valinso_key: str) -> None:
    from playwright.sync_api import expect

    page, guard = guarded_page
    # Voilà scrolls inside its own container, so a "full page" shot is only the viewport:
    # make the viewport tall enough for the whole app.
    page.set_viewport_size({"width": 1280, "height": 1800})
    steps: dict[str, Path] = {}
    try:
        page.goto(voila_app.url, wait_until="domcontentloaded")
        # Voilà runs the notebook, then the widget manager renders the views.
        loket = page.locator(".lv-loket-login")
        expect(loket.locator("select")).to_be_visible(timeout=90_000)
        expect(page.locator(".lv-valinso-login")).to_be_visible()
        expect(page.locator(".lv-after-login")).to_contain_text("log in to Loket first")
        # lv.charts.enable_offline_rendering() chose Altair's interactive offline renderer.
        expect(page.get_by_text("chart renderer: jupyter")).to_be_visible()
        steps["01_loaded"] = shoot(page, "01_loaded")

        # --- Loket: pick a real environment (fields enable), then the mock, then log in.
        select = loket.locator("select")
        select.select_option(_option(select, "production"))
        expect(loket.get_by_role("textbox", name="Client id")).to_be_enabled()
        select.select_option(_option(select, "mock"))
        expect(loket.get_by_role("textbox", name="Client id")).to_be_disabled()
        expect(loket).to_contain_text("not logged in")
        loket.get_by_role("button", name="Log in").click()
        expect(loket).to_contain_text(re.compile(r"logged in to .*mock", re.I), timeout=60_000)
        expect(loket).not_to_contain_text("not logged in")
        steps["02_loket_logged_in"] = shoot(page, "02_loket_logged_in")

        # --- Valinso: a wrong key is refused and says so; the right one connects.
        valinso = page.locator(".lv-valinso-login")
        key_field = valinso.locator("input[type=password]")
        expect(valinso).to_contain_text("not connected")
        key_field.fill("0" * 32)
        valinso.get_by_role("button", name="Test connection").click()
        expect(valinso).to_contain_text(
            re.compile(r"(401|403).*(invalid|api[- ]?key)|api[- ]?key.*(invalid|refused)", re.I),
            timeout=30_000,
        )
        expect(valinso).not_to_contain_text("connected to")
        expect(key_field).to_have_value("")  # the widget cleared the secret after use
        steps["03_valinso_wrong_key"] = shoot(page, "03_valinso_wrong_key")

        key_field.fill(valinso_key)
        valinso.get_by_role("button", name="Test connection").click()
        expect(valinso).to_contain_text(re.compile(r"connected.*\d+ devices"), timeout=30_000)
        expect(key_field).to_have_value("")
        assert valinso_key not in page.content(), "the api key is still in the page"
        steps["04_valinso_connected"] = shoot(page, "04_valinso_connected")

        # --- VersionPicker: the served version follows the picked date.
        picker = page.locator(".lv-version-picker")
        expect(picker).to_be_visible(timeout=60_000)
        expect(picker.locator("select")).to_have_value("employees")
        check = picker.get_by_role("button", name="Check served version")
        check.click()
        served = re.compile(r"served resourceVersion (\d{4}-\d{2}-\d{2})")
        expect(picker).to_contain_text(served, timeout=30_000)
        before = served.search(picker.inner_text()).group(1)
        steps["05_version_newest"] = shoot(page, "05_version_newest")

        picker.locator("input[type=date]").fill("2020-01-01")  # before 2021-03-29
        picker.get_by_role("button", name="Apply").click()
        # Apply clears the served line; the next Check fills it again.
        expect(picker).not_to_contain_text("served resourceVersion", timeout=30_000)
        check.click()
        expect(picker).to_contain_text(served, timeout=30_000)
        after = served.search(picker.inner_text()).group(1)
        assert (before, after) == ("2021-03-29", "2018-12-31"), (before, after)
        expect(picker.locator("b")).to_have_text("2018-12-31")  # bold = what the client asks for
        steps["06_version_changed"] = shoot(page, "06_version_changed")

        # --- The chart, displayed through Altair's offline notebook renderer, draws marks.
        chart = page.locator(".lv-chart")
        expect(chart).to_be_visible(timeout=60_000)
        page.wait_for_function(
            """() => {
              const c = document.querySelector('.lv-chart');
              if (!c) return false;
              if (c.querySelector('canvas')) return true;
              return [...c.querySelectorAll('g.role-mark')]
                .some((g) => !g.closest('.role-axis, .role-legend, .role-title') && g.children.length);
            }""",
            timeout=60_000,
        )
        chart.scroll_into_view_if_needed()
        steps["07_chart"] = shoot(page, "07_chart")
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, box
        expect(page.get_by_text("javascript error", exact=False)).to_have_count(0)
        expect(page.get_by_text("tools failed")).to_have_count(0)
    except BaseException:
        try:
            shoot(page, "99_failure")
        finally:
            print(f"screenshots: {sorted(steps)}; Voilà log tail:\n{voila_app.log_tail()}")
        raise
    guard.assert_clean()
    assert guard.local_requests > 10
    print("screenshots:", *(str(p) for p in steps.values()), sep="\n  ")
