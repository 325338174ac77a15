"""The public face: the names DESIGN.md promises, and a light ``import loketvalinso``."""

from __future__ import annotations

import inspect
import subprocess
import sys

import loketvalinso as lv


def test_every_name_in_all_resolves() -> None:
    for name in lv.__all__:
        assert getattr(lv, name) is not None, name


def test_design_names_exist() -> None:
    assert callable(lv.mock.serve) and callable(lv.mock.in_process)
    for name in (
        "from_mock",
        "get",
        "employers",
        "employees",
        "employments",
        "departments",
        "leave_types",
        "leave_requests",
        "leave",
        "leave_balances",
        "absences",
        "catalog",
    ):
        assert callable(getattr(lv.Loket, name)), name
    for name in ("from_mock", "vends", "devices", "device", "products", "locations", "get"):
        assert callable(getattr(lv.Valinso, name)), name
    assert callable(lv.charts.vends_overview) and callable(lv.charts.leave_trends)
    for name in ("LoketLogin", "ValinsoLogin", "VersionPicker"):
        assert inspect.isclass(getattr(lv.widgets, name)), name
    for option in ("cache", "progress", "max_concurrency"):
        assert option in inspect.signature(lv.Loket).parameters
        assert option in inspect.signature(lv.Valinso).parameters
    serve_options = inspect.signature(lv.mock.serve).parameters
    for option in (
        "seed",
        "port",
        "latency_ms",
        "error_rate",
        "rate_limit",
        "token_lifetime",
        "truncate_rate",
        "drift",
        "expires",
    ):
        assert option in serve_options, option


def test_mock_server_exposes_its_urls_and_ground_truth() -> None:
    with lv.mock.serve(seed=42) as m:
        port = m.url.rsplit(":", 1)[1]
        assert m.loket_url == f"http://127.0.0.1:{port}/v2"
        assert m.token_url == f"http://127.0.0.1:{port}/token"
        assert m.valinso_url == f"http://127.0.0.1:{port}/api/head/valinso_api"
        assert {"employers", "leave_requests", "vends"} <= set(m.world.frames())
        creds = m.credentials
        for field in (
            "client_id",
            "client_secret",
            "redirect_uri",
            "username",
            "password",
            "valinso_api_key",
        ):
            assert getattr(creds, field)
        # Secrets stay out of reprs.
        for secret in (creds.client_secret, creds.password, creds.valinso_api_key):
            assert secret not in repr(creds)


def test_error_tree_is_one_tree() -> None:
    for name in lv.__all__:
        obj = getattr(lv, name)
        if not inspect.isclass(obj):
            continue
        if issubclass(obj, Warning):
            assert issubclass(obj, lv.LoketValinsoWarning), name
        elif issubclass(obj, Exception):
            assert issubclass(obj, lv.LoketValinsoError), name


def test_import_is_light() -> None:
    code = (
        "import sys, loketvalinso; "
        "heavy = [m for m in ('altair', 'ipywidgets', 'vl_convert', 'diskcache', 'polars') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


#: The public modules and exactly what each exports, in order (as httpx's test_exported_members
#: does): a name added or removed here is a change of the public surface, made on purpose.
EXPORTED = {
    "loketvalinso": (
        "ApiError AuthenticationError BadRequestError CacheMissError CacheWarning "
        "ConfigurationError ConflictError Dataset LoginRequiredError Loket LoketValinsoError "
        "LoketValinsoWarning LoketWarning NetworkError NotFoundError ObsoleteVersionWarning "
        "PaginationError PaginationWarning PartialWriteWarning PermissionDeniedError "
        "RateLimitedError ResponseFormatError RetryPolicy SchemaDriftError SchemaDriftWarning "
        "ServerError ValidationError Valinso VersionError "
        "__version__ cache charts enable_logging errors mock report snapshots widgets"
    ),
    "loketvalinso.errors": (
        "ApiError AuthenticationError BadRequestError CacheMissError CacheWarning "
        "ConfigurationError ConflictError LoginRequiredError LoketValinsoError "
        "LoketValinsoWarning LoketWarning NetworkError NotFoundError ObsoleteVersionWarning "
        "PaginationError PaginationWarning PartialWriteWarning PermissionDeniedError "
        "RateLimitedError ResponseFormatError SchemaDriftError SchemaDriftWarning ServerError "
        "ValidationError VersionError"
    ),
    "loketvalinso.cache": "DiskCache cache_clear cache_info default_directory",
    "loketvalinso.charts": (
        "LOCAL_TZ device_comparison enable_offline_rendering leave_balance_distribution "
        "leave_hours_by_month leave_requests_by_status leave_trends payment_mix "
        "sick_leave_rate top_products vends_daily vends_heatmap vends_overview"
    ),
    "loketvalinso.mock": (
        "IN_PROCESS_URL Credentials FaultConfig MockApp MockServer MockURLs MockUser World "
        "WorldSizes build_world in_process serve sizes_for"
    ),
    "loketvalinso.snapshots": "PROVENANCE_KEY Snapshot load provenance_of save",
    "loketvalinso.dlt_source": "source",
    "loketvalinso.report": (
        "DemoResult employments_with_department frame_roles render_report report_from_snapshots "
        "run_demo write_report"
    ),
    "loketvalinso.widgets": "MOCK LoketLogin ValinsoLogin VersionPicker shared_mock",
}


def test_exported_members() -> None:
    import importlib

    for module_name, names in EXPORTED.items():
        module = importlib.import_module(module_name)
        assert module.__all__ == names.split(), module_name
        for name in names.split():
            assert getattr(module, name) is not None, f"{module_name}.{name}"


def test_every_other_module_is_private() -> None:
    """Users reach the package through the modules above; everything else starts with ``_``."""
    from pathlib import Path

    root = Path(lv.__file__).parent
    public = {name.split(".")[1] for name in EXPORTED if "." in name}
    for path in root.iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith("_") or name in public or not (path.suffix == ".py" or path.is_dir()):
            continue
        if path.is_dir() and not (path / "__init__.py").exists():
            continue
        raise AssertionError(f"loketvalinso.{name} is neither private nor pinned in EXPORTED")
