"""Login and version widgets for Jupyter (``pip install "loketvalinso[widgets]"``).

Secrets typed into a widget are cleared as soon as they were used (or refused), so a saved
notebook's widget state holds no client secret, pasted redirect URL or code, or api key. The
secrets live on only inside the client object (:attr:`LoketLogin.client`), in memory.

>>> login = lv.widgets.LoketLogin(); login            # pick an environment, click Log in
>>> loket = login.client
>>> lv.widgets.VersionPicker(loket)
>>> vlogin = lv.widgets.ValinsoLogin(); vlogin        # api key, Test connection
>>> valinso = vlogin.client
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loketvalinso.errors import LoketValinsoError, ObsoleteVersionWarning, redact_url

if TYPE_CHECKING:
    from loketvalinso._loket import Loket
    from loketvalinso._valinso import Valinso
    from loketvalinso.mock import MockServer, WorldSizes

__all__ = ["MOCK", "LoketLogin", "ValinsoLogin", "VersionPicker", "shared_mock"]

#: The value of the "embedded mock" choice in the environment/version dropdowns.
MOCK = "embedded mock"
_shared_mock: MockServer | None = None


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = "the widgets need ipywidgets: pip install 'loketvalinso[widgets]'"
        raise ImportError(msg) from exc
    return ipywidgets


def shared_mock(seed: int = 42, *, sizes: WorldSizes | None = None) -> MockServer:
    """One embedded mock server per kernel, started on first use (over real HTTP on loopback).

    ``seed``/``sizes`` only matter for the first call (or after the server was closed).
    """
    global _shared_mock
    if _shared_mock is None or _shared_mock._http is None:
        from loketvalinso import mock

        _shared_mock = mock.serve(seed=seed, sizes=sizes)
    return _shared_mock


def widget_tree(root: Any) -> Iterator[Any]:
    """Every ipywidget under ``root`` (itself included): for state checks in tests."""
    yield root
    for child in getattr(root, "children", ()) or ():
        yield from widget_tree(child)


#: Wide enough for "Environment" and "On or before", so labels are not cut off.
LABEL_WIDTH = "120px"


def _widen_labels(root: Any) -> None:
    for child in widget_tree(root):
        style = getattr(child, "style", None)
        if (
            style is not None
            and hasattr(style, "description_width")
            and not hasattr(child, "button_style")
        ):
            style.description_width = LABEL_WIDTH


def _status_html(text: str, kind: str) -> str:
    colours = {"ok": "#1a7f37", "error": "#cf222e", "info": "#57606a", "warn": "#9a6700"}
    icon = {"ok": "✔", "error": "✖", "info": "•", "warn": "⚠"}[kind]
    return f'<span style="color:{colours[kind]}">{icon} {html.escape(text)}</span>'


def _badge(text: str) -> str:
    return (
        '<span style="background:#fff8c5;color:#9a6700;border:1px solid #d4a72c;'
        'border-radius:1em;padding:0 0.6em;font-size:0.85em;margin-left:0.5em">'
        f"⚠ {html.escape(text)}</span>"
    )


def _error_text(exc: BaseException) -> str:
    # Library errors are written never to contain secrets; anything else (which might echo an
    # input) is reduced to its type.
    if isinstance(exc, LoketValinsoError):
        return str(exc)
    return f"{type(exc).__name__}: the request failed (check the settings and try again)"


def _host(url: str) -> str:
    """``host[:port]`` of ``url``, never a user name or password in it."""
    netloc = urlsplit(url).netloc
    return netloc.rpartition("@")[2] if netloc else redact_url(url)


class LoketLogin:
    """Log in to Loket: environment, client id and secret, then the authorization link.

    The authorization-code flow (with PKCE) is the one that works when the kernel runs on
    another machine: click *Log in*, open the link, log in at Loket, and paste the URL your
    browser lands on (or just its ``code``) into the field, then click *Finish*. With the
    *embedded mock* the mock's login page is followed for you.

    On success :attr:`client` is a logged-in :class:`~loketvalinso.Loket`. The secret field is
    cleared as soon as *Log in* is clicked and the pasted URL as soon as *Finish* is clicked,
    whether or not they worked, so a saved notebook holds neither.

    Parameters
    ----------
    environment
        ``"embedded mock"`` (default), ``"production"``, ``"acceptance"`` or ``"test"``.
    client_id, redirect_uri
        Pre-filled values (not secrets), e.g. from environment variables.
    client_options
        Extra keyword arguments for :class:`~loketvalinso.Loket` (``cache=``, ``progress=``, or
        ``base_url``/``token_url``/``authorize_url`` to point a real-environment login at another
        server).
    mock
        The mock server to use for the *embedded mock* choice (default: :func:`shared_mock`).
    """

    def __init__(
        self,
        *,
        environment: str = MOCK,
        client_id: str = "",
        redirect_uri: str = "",
        client_options: dict[str, Any] | None = None,
        mock: MockServer | None = None,
    ) -> None:
        w = _ipywidgets()
        from loketvalinso._transport.auth import LOKET_ENVIRONMENTS

        self._client_options = dict(client_options or {})
        self._mock = mock
        self.client: Loket | None = None
        self._pending: Loket | None = None
        options = [("embedded mock (offline)", MOCK)] + [
            (f"{name} ({_host(env.api_url)})", name) for name, env in LOKET_ENVIRONMENTS.items()
        ]
        self.environment = w.Dropdown(options=options, value=environment, description="Environment")
        self.client_id = w.Text(
            value=client_id, description="Client id", placeholder="from Loket.nl"
        )
        self.client_secret = w.Password(description="Secret", placeholder="client secret")
        self.redirect_uri = w.Text(
            value=redirect_uri, description="Redirect URI", placeholder="https://…/callback"
        )
        self.login_button = w.Button(description="Log in", button_style="primary", icon="sign-in")
        self.auth_link = w.HTML(value="")
        self.redirect = w.Password(
            description="Redirect", placeholder="paste the redirect URL or the code"
        )
        self.finish_button = w.Button(description="Finish", disabled=True)
        self.status = w.HTML(value=_status_html("not logged in", "info"))
        self.login_button.on_click(lambda _b: self.log_in())
        self.finish_button.on_click(lambda _b: self.finish())
        self.environment.observe(lambda _c: self._environment_changed(), names="value")
        self.widget = w.VBox(
            [
                self.environment,
                self.client_id,
                self.client_secret,
                self.redirect_uri,
                self.login_button,
                self.auth_link,
                w.HBox([self.redirect, self.finish_button]),
                self.status,
            ]
        )
        _widen_labels(self.widget)
        self._sync_fields()

    # -- state ---------------------------------------------------------------------------------

    def _sync_fields(self) -> None:
        is_mock = self.environment.value == MOCK
        for field in (self.client_id, self.client_secret, self.redirect_uri):
            field.disabled = is_mock
        self.redirect.disabled = is_mock

    def _environment_changed(self) -> None:
        self._abandon_pending()
        self.auth_link.value = ""
        self.finish_button.disabled = True
        self._sync_fields()

    def _abandon_pending(self) -> None:
        if self._pending is not None:
            self._pending.close()
            self._pending = None

    def _set_status(self, text: str, kind: str) -> None:
        self.status.value = _status_html(text, kind)

    def _clear_secrets(self) -> None:
        self.client_secret.value = ""
        self.redirect.value = ""

    @property
    def logged_in(self) -> bool:
        return self.client is not None

    def widgets(self) -> list[Any]:
        """Every ipywidget this login is made of."""
        return list(widget_tree(self.widget))

    # -- actions -------------------------------------------------------------------------------

    def log_in(self) -> None:
        """What the *Log in* button does."""
        from loketvalinso._loket import Loket

        secret = self.client_secret.value or None
        self._clear_secrets()  # used (or refused) now: never left in the widget state
        self._abandon_pending()
        try:
            if self.environment.value == MOCK:
                server = self._mock or shared_mock()
                self.client = Loket.from_mock(server, **self._client_options)
                self.auth_link.value = ""
                self.finish_button.disabled = True
                self._set_status(f"logged in to the embedded mock ({_host(server.url)})", "ok")
                return
            client_id = self.client_id.value.strip()
            redirect_uri = self.redirect_uri.value.strip()
            if not client_id or not redirect_uri:
                self._set_status(
                    "enter the client id and redirect URI (and the secret, if your client has "
                    "one), then click Log in again",
                    "error",
                )
                return
            self._pending = Loket(
                environment=self.environment.value,
                client_id=client_id,
                client_secret=secret,
                redirect_uri=redirect_uri,
                **self._client_options,
            )
            url = self._pending.authorization_url()
        except Exception as exc:  # shown in the widget, never raised into the event loop
            self._abandon_pending()
            self._set_status(_error_text(exc), "error")
            return
        self.auth_link.value = (
            f'1. <a href="{html.escape(url)}" target="_blank" rel="noopener">Open the Loket '
            f"login page ({html.escape(_host(url))})</a> and log in.<br>"
            "2. Paste the URL your browser lands on (or its <code>code</code>) below and "
            "click <b>Finish</b>."
        )
        self.finish_button.disabled = False
        self._set_status("waiting for the redirect URL", "info")

    def finish(self) -> None:
        """What the *Finish* button does: exchange the pasted redirect URL or code."""
        pasted = self.redirect.value.strip()
        self._clear_secrets()
        if self._pending is None:
            self._set_status("click Log in first", "error")
            return
        if not pasted:
            self._set_status("paste the redirect URL (or the code) first", "error")
            return
        try:
            self._pending.finish_login(pasted)
        except Exception as exc:
            self._set_status(
                f"{_error_text(exc)} — click Log in for a fresh link if the code was used or expired",
                "error",
            )
            return
        self.client, self._pending = self._pending, None
        self.finish_button.disabled = True
        self.auth_link.value = ""
        self._set_status(
            f"logged in to {self.environment.value} ({_host(self.client.base_url)})", "ok"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class ValinsoLogin:
    """Connect to Valinso: version (or base URL) and api key; *Test connection* checks it.

    *Test connection* builds a client and loads the devices. The key field is cleared as soon
    as it is used (whether the key worked or not); :attr:`client` is a
    :class:`~loketvalinso.Valinso` once a test succeeded, None otherwise. With the
    *embedded mock* and an empty key the mock's own key is used.

    Parameters
    ----------
    version
        ``"embedded mock"`` (default), ``"head"`` or ``"2.0.0"``.
    base_url
        Pre-filled base URL (overrides the version's URL).
    client_options
        Extra keyword arguments for :class:`~loketvalinso.Valinso` (``cache=``, ...).
    mock
        The mock server for the *embedded mock* choice (default: :func:`shared_mock`).
    """

    def __init__(
        self,
        *,
        version: str = MOCK,
        base_url: str = "",
        client_options: dict[str, Any] | None = None,
        mock: MockServer | None = None,
    ) -> None:
        w = _ipywidgets()
        self._client_options = dict(client_options or {})
        self._mock = mock
        self.client: Valinso | None = None
        self.version = w.Dropdown(
            options=[
                ("embedded mock (offline)", MOCK),
                ("head (latest)", "head"),
                ("2.0.0", "2.0.0"),
            ],
            value=version,
            description="Version",
        )
        self.base_url = w.Text(
            value=base_url, description="Base URL", placeholder="optional: overrides the version"
        )
        self.api_key = w.Password(description="API key", placeholder="from Valinso support")
        self.test_button = w.Button(description="Test connection", button_style="primary")
        self.status = w.HTML(value=_status_html("not connected", "info"))
        self.test_button.on_click(lambda _b: self.test_connection())
        self.widget = w.VBox(
            [self.version, self.base_url, self.api_key, self.test_button, self.status]
        )
        _widen_labels(self.widget)

    def _set_status(self, text: str, kind: str) -> None:
        self.status.value = _status_html(text, kind)

    @property
    def connected(self) -> bool:
        return self.client is not None

    def widgets(self) -> list[Any]:
        """Every ipywidget this login is made of."""
        return list(widget_tree(self.widget))

    def test_connection(self) -> None:
        """What the *Test connection* button does: build a client and load the devices."""
        from loketvalinso._valinso import Valinso

        key = self.api_key.value.strip()
        self.api_key.value = ""  # used now: never left in the widget state
        client: Valinso | None = None
        try:
            options = dict(self._client_options)
            base_url = self.base_url.value.strip() or None
            if self.version.value == MOCK:
                server = self._mock or shared_mock()
                base_url = base_url or server.valinso_url
                key = key or server.credentials.valinso_api_key
                version = "head"
            else:
                version = self.version.value
            if not key:
                self._set_status("enter the api key (from Valinso support) first", "error")
                return
            client = Valinso(api_key=key, version=version, base_url=base_url, **options)
            devices = client.devices()
        except Exception as exc:
            if client is not None:
                client.close()
            self.client = None
            hint = ""
            if isinstance(exc, LoketValinsoError) and "api" not in str(exc).lower():
                hint = " — check the api key and the base URL"
            self._set_status(_error_text(exc) + hint, "error")
            return
        self.client = client
        self._set_status(f"connected to {_host(client.base_url)}: {devices.height} devices", "ok")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class VersionPicker:
    """Choose the resource version per Loket resource, and see what the server serves.

    Per resource: its documented versions (the one the client asks for in bold), a date
    picker (the newest version on or before the date is used; empty = the newest), *Apply*
    (``loket.set_version``), and *Check*, which asks the server for one page and shows the
    served ``resourceVersion`` with a warning badge when it has an ``obsoleteDate``.
    """

    def __init__(
        self, loket: Loket, *, employer_id: str | None = None, resource: str = "employees"
    ) -> None:
        w = _ipywidgets()
        from loketvalinso._loket_resources import RESOURCES

        self.loket = loket
        self._employer_id = employer_id
        self._ids: dict[str, str] = {}
        names = [n for n in RESOURCES if "{" not in RESOURCES[n].rsplit("/", 1)[-1]]
        self.resource = w.Dropdown(options=names, value=resource, description="Resource")
        self.versions = w.HTML(value="")
        self.date = w.DatePicker(description="On or before")
        self.apply_button = w.Button(description="Apply", button_style="primary")
        self.check_button = w.Button(description="Check served version")
        self.served = w.HTML(value="")
        self.apply_button.on_click(lambda _b: self.apply())
        self.check_button.on_click(lambda _b: self.check())
        self.resource.observe(lambda _c: self._resource_changed(), names="value")
        self.widget = w.VBox(
            [
                self.resource,
                self.versions,
                self.date,
                w.HBox([self.apply_button, self.check_button]),
                self.served,
            ]
        )
        _widen_labels(self.widget)
        self._resource_changed()

    def _resource_changed(self) -> None:
        from loketvalinso._loket_resources import RESOURCES

        chosen = self.loket.versions.get(RESOURCES[self.resource.value])
        self.date.value = date.fromisoformat(chosen) if chosen else None
        self._show_versions()

    def _show_versions(self) -> None:
        name = self.resource.value
        documented = self.loket.resource_versions(name)
        chosen = self.loket.resolve_version(name)
        items = ", ".join(f"<b>{v}</b>" if v == chosen else v for v in documented)
        self.versions.value = f"documented versions: {items} (bold = what the client asks for)"
        self.served.value = ""

    def apply(self) -> None:
        """Set the chosen date (or, with no date, the newest version) for the resource."""
        picked: date | None = self.date.value
        try:
            self.loket.set_version(self.resource.value, picked)
        except LoketValinsoError as exc:
            self.served.value = _status_html(str(exc), "error")
            return
        self._show_versions()

    # -- checking what is served ---------------------------------------------------------------

    def _employer(self) -> str:
        if self._employer_id is None:
            employers = self.loket.employers()
            if employers.is_empty():
                msg = "this login sees no employers, so there is nothing to check"
                raise LoketValinsoError(msg)
            self._employer_id = str(employers["id"][0])
        return self._employer_id

    def _first_id(self, key: str, load: Any) -> str:
        if key not in self._ids:
            frame = load(self._employer())
            if frame.is_empty():
                msg = f"the first employer has no {key}s to check this resource with"
                raise LoketValinsoError(msg)
            self._ids[key] = str(frame["id"][0])
        return self._ids[key]

    def _probe_params(self, template: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if "{employerId}" in template:
            params["employerId"] = self._employer()
        if "{employmentId}" in template:
            params["employmentId"] = self._first_id("employment", self.loket.employments)
        if "{employeeId}" in template:
            params["employeeId"] = self._first_id("employee", self.loket.employees)
        return params

    def served_version(self) -> dict[str, str | None]:
        """``{"resource_version", "obsolete_date"}`` of the selected resource, from one page."""
        from loketvalinso._loket_resources import RESOURCES

        name = self.resource.value
        template = RESOURCES[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ObsoleteVersionWarning)  # shown as a badge instead
            params = self._probe_params(template)
            extra: dict[str, Any] = {}
            if name == "leave_calendar":
                extra["params"] = _calendar_window()
            return dict(self.loket.served_version(name, **extra, **params))

    def check(self) -> None:
        """What *Check served version* does."""
        try:
            info = self.served_version()
        except Exception as exc:
            self.served.value = _status_html(_error_text(exc), "error")
            return
        version = info.get("resource_version") or "unknown"
        obsolete = info.get("obsolete_date")
        text = _status_html(f"served resourceVersion {version}", "warn" if obsolete else "ok")
        if obsolete:
            text += _badge(f"obsolete on {obsolete}: choose a newer version")
        self.served.value = text

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _calendar_window() -> dict[str, str]:
    year = date.today().year
    return {"startDate": f"{year}-01-01", "endDate": f"{year}-12-31"}
