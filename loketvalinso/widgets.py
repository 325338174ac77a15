"""Login and version widgets for Jupyter (``pip install loketvalinso[widgets]``).

Secrets typed into a widget are cleared as soon as they were used, so a saved notebook's
widget state holds no client secret, pasted code or api key.

>>> login = lv.widgets.LoketLogin(); login            # pick "embedded mock", click Log in
>>> loket = login.client
>>> lv.widgets.VersionPicker(loket)
"""

from __future__ import annotations

import html
from datetime import date
from typing import TYPE_CHECKING, Any

from loketvalinso.errors import LoketValinsoError

if TYPE_CHECKING:
    from loketvalinso.loket import Loket
    from loketvalinso.mock import MockServer
    from loketvalinso.valinso import Valinso

__all__ = ["LoketLogin", "ValinsoLogin", "VersionPicker", "shared_mock"]

MOCK = "embedded mock"
_shared_mock: MockServer | None = None


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = "the widgets need ipywidgets: pip install 'loketvalinso[widgets]'"
        raise ImportError(msg) from exc
    return ipywidgets


def shared_mock(seed: int = 42) -> MockServer:
    """One embedded mock server per kernel, started on first use (over real HTTP)."""
    global _shared_mock
    if _shared_mock is None or _shared_mock._http is None:
        from loketvalinso import mock

        _shared_mock = mock.serve(seed=seed)
    return _shared_mock


def _status_html(text: str, kind: str) -> str:
    colours = {"ok": "#1a7f37", "error": "#cf222e", "info": "#57606a", "warn": "#9a6700"}
    icon = {"ok": "✔", "error": "✖", "info": "•", "warn": "⚠"}[kind]
    return f'<span style="color:{colours[kind]}">{icon} {html.escape(text)}</span>'


def _error_text(exc: BaseException) -> str:
    # Library errors never contain secrets; anything else is reduced to its type.
    if isinstance(exc, LoketValinsoError | ValueError):
        return str(exc)
    return f"{type(exc).__name__} (see the log for details)"


class LoketLogin:
    """Log in to Loket: environment, client id/secret, then the authorization link.

    The authorization code flow is the only one that works when the kernel runs elsewhere:
    click *Log in*, open the link, log in, and paste the URL you were redirected to (or its
    ``code``) into the field, then click *Finish*. With the *embedded mock* the link is followed
    for you. On success :attr:`client` is a logged-in :class:`~loketvalinso.Loket` and every
    secret field is cleared.
    """

    def __init__(
        self, *, environment: str = MOCK, client_options: dict[str, Any] | None = None
    ) -> None:
        w = _ipywidgets()
        from loketvalinso.auth import LOKET_ENVIRONMENTS

        self._client_options = dict(client_options or {})
        self.client: Loket | None = None
        self._pending: Loket | None = None
        self.environment = w.Dropdown(
            options=[MOCK, *LOKET_ENVIRONMENTS], value=environment, description="Environment"
        )
        self.client_id = w.Text(description="Client id", placeholder="from Loket.nl")
        self.client_secret = w.Password(description="Secret", placeholder="client secret")
        self.redirect_uri = w.Text(description="Redirect URI", placeholder="https://…/callback")
        self.login_button = w.Button(description="Log in", button_style="primary", icon="sign-in")
        self.auth_link = w.HTML(value="")
        self.redirect = w.Password(
            description="Redirect", placeholder="paste the redirect URL or the code"
        )
        self.finish_button = w.Button(description="Finish", disabled=True)
        self.status = w.HTML(value=_status_html("not logged in", "info"))
        self.login_button.on_click(lambda _b: self.log_in())
        self.finish_button.on_click(lambda _b: self.finish())
        self.environment.observe(lambda _c: self._sync_fields(), names="value")
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
        self._sync_fields()

    def _sync_fields(self) -> None:
        is_mock = self.environment.value == MOCK
        for field in (self.client_id, self.client_secret, self.redirect_uri):
            field.disabled = is_mock

    def _set_status(self, text: str, kind: str) -> None:
        self.status.value = _status_html(text, kind)

    def _clear_secrets(self) -> None:
        self.client_secret.value = ""
        self.redirect.value = ""

    @property
    def logged_in(self) -> bool:
        return self.client is not None

    def log_in(self) -> None:
        """What the *Log in* button does."""
        from loketvalinso.loket import Loket

        try:
            if self.environment.value == MOCK:
                self.client = Loket.from_mock(shared_mock(), **self._client_options)
                self.auth_link.value = ""
                self._set_status("logged in to the embedded mock", "ok")
                return
            if not self.client_id.value.strip() or not self.redirect_uri.value.strip():
                self._set_status("enter the client id and redirect URI first", "error")
                return
            self._pending = Loket(
                environment=self.environment.value,
                client_id=self.client_id.value.strip(),
                client_secret=self.client_secret.value or None,
                redirect_uri=self.redirect_uri.value.strip(),
                **self._client_options,
            )
            # The secret now lives only in the client object, not in the widget state.
            self.client_secret.value = ""
            url = self._pending.authorization_url()
            self.auth_link.value = (
                f'<a href="{html.escape(url)}" target="_blank">Open the Loket login page</a>, '
                "log in, then paste the URL you land on below and click Finish."
            )
            self.finish_button.disabled = False
            self._set_status("waiting for the redirect URL", "info")
        except Exception as exc:  # shown in the widget, never raised into the event loop
            self._clear_secrets()
            self._set_status(_error_text(exc), "error")

    def finish(self) -> None:
        """What the *Finish* button does: exchange the pasted redirect URL or code."""
        pasted = self.redirect.value.strip()
        self.redirect.value = ""
        if self._pending is None:
            self._set_status("click Log in first", "error")
            return
        if not pasted:
            self._set_status("paste the redirect URL (or the code) first", "error")
            return
        try:
            self._pending.finish_login(pasted)
        except Exception as exc:
            self._set_status(_error_text(exc), "error")
            return
        self.client, self._pending = self._pending, None
        self.finish_button.disabled = True
        self.auth_link.value = ""
        self._set_status(f"logged in to {self.environment.value}", "ok")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class ValinsoLogin:
    """Connect to Valinso: version (or base URL) and api key; *Test connection* checks it.

    The key field is cleared after use; :attr:`client` is a :class:`~loketvalinso.Valinso`.
    """

    def __init__(
        self, *, version: str = MOCK, client_options: dict[str, Any] | None = None
    ) -> None:
        w = _ipywidgets()
        self._client_options = dict(client_options or {})
        self.client: Valinso | None = None
        self.version = w.Dropdown(
            options=[MOCK, "head", "2.0.0"], value=version, description="Version"
        )
        self.base_url = w.Text(description="Base URL", placeholder="optional: overrides version")
        self.api_key = w.Password(description="API key", placeholder="from Valinso support")
        self.test_button = w.Button(description="Test connection", button_style="primary")
        self.status = w.HTML(value=_status_html("not connected", "info"))
        self.test_button.on_click(lambda _b: self.test_connection())
        self.widget = w.VBox(
            [self.version, self.base_url, self.api_key, self.test_button, self.status]
        )

    def _set_status(self, text: str, kind: str) -> None:
        self.status.value = _status_html(text, kind)

    @property
    def connected(self) -> bool:
        return self.client is not None

    def test_connection(self) -> None:
        """What the *Test connection* button does: build a client and load the devices."""
        from loketvalinso.valinso import Valinso

        key = self.api_key.value.strip()
        self.api_key.value = ""
        try:
            options = dict(self._client_options)
            if self.version.value == MOCK and not self.base_url.value.strip():
                server = shared_mock()
                base_url = server.valinso_url
                key = key or server.credentials.valinso_api_key
                version = "head"
            else:
                base_url = self.base_url.value.strip() or None
                version = "head" if self.version.value == MOCK else self.version.value
            if not key:
                self._set_status("enter the api key first", "error")
                return
            client = Valinso(api_key=key, version=version, base_url=base_url, **options)
            devices = client.devices()
        except Exception as exc:
            self.client = None
            self._set_status(_error_text(exc), "error")
            return
        self.client = client
        self._set_status(f"connected: {devices.height} devices", "ok")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class VersionPicker:
    """Choose the resource version per Loket resource, and see what the server serves.

    Per resource: its documented versions, a date picker (newest version on or before it),
    the served ``resourceVersion`` after *Check*, and a warning badge when that version has an
    ``obsoleteDate``. *Apply* changes the client's choice (``loket.set_version``).
    """

    def __init__(self, loket: Loket, *, employer_id: str | None = None) -> None:
        w = _ipywidgets()
        from loketvalinso.loket import RESOURCES

        self.loket = loket
        self._employer_id = employer_id
        names = [n for n in RESOURCES if n != "employer"]
        self.resource = w.Dropdown(options=names, value="employees", description="Resource")
        self.versions = w.HTML(value="")
        self.date = w.DatePicker(description="On or before")
        self.apply_button = w.Button(description="Apply", button_style="primary")
        self.check_button = w.Button(description="Check served version")
        self.served = w.HTML(value="")
        self.apply_button.on_click(lambda _b: self.apply())
        self.check_button.on_click(lambda _b: self.check())
        self.resource.observe(lambda _c: self._show_versions(), names="value")
        self.widget = w.VBox(
            [
                self.resource,
                self.versions,
                self.date,
                w.HBox([self.apply_button, self.check_button]),
                self.served,
            ]
        )
        self._show_versions()

    def _show_versions(self) -> None:
        name = self.resource.value
        documented = self.loket.resource_versions(name)
        chosen = self.loket.resolve_version(name)
        items = ", ".join(f"<b>{v}</b>" if v == chosen else v for v in documented)
        self.versions.value = f"documented versions: {items} (bold = what the client asks for)"
        self.served.value = ""

    def apply(self) -> None:
        """Set the chosen date (or clear it: newest) for the selected resource."""
        picked: date | None = self.date.value
        try:
            self.loket.set_version(self.resource.value, picked)
        except LoketValinsoError as exc:
            self.served.value = _status_html(str(exc), "error")
            return
        self._show_versions()

    def _probe_params(self) -> dict[str, Any]:
        from loketvalinso.loket import RESOURCES

        template = RESOURCES[self.resource.value]
        params: dict[str, Any] = {}
        if "{employerId}" in template:
            if self._employer_id is None:
                self._employer_id = self.loket.employers()["id"][0]
            params["employerId"] = self._employer_id
        if "{employmentId}" in template:
            params["employmentId"] = self.loket.employments(self._need_employer())["id"][0]
        if "{employeeId}" in template:
            params["employeeId"] = self.loket.employees(self._need_employer())["id"][0]
        return params

    def _need_employer(self) -> str:
        if self._employer_id is None:
            self._employer_id = self.loket.employers()["id"][0]
        return self._employer_id

    def check(self) -> None:
        """Ask the server for one item of the resource and show the version it served."""
        from loketvalinso.loket import RESOURCES

        name = self.resource.value
        query: dict[str, Any] = {"pageSize": 1}
        if name == "leave_calendar":
            query.update({"startDate": "2026-01-01", "endDate": "2026-12-31"})
        try:
            self.loket.get(RESOURCES[name], params=query, **self._probe_params())
        except Exception as exc:
            self.served.value = _status_html(_error_text(exc), "error")
            return
        report = self.loket.last_load
        versions = sorted(getattr(report, "versions", []) or [])
        obsolete = sorted(getattr(report, "obsolete_dates", []) or [])
        text = f"served resourceVersion {', '.join(versions) or 'unknown'}"
        if obsolete:
            self.served.value = _status_html(f"{text} — obsolete on {', '.join(obsolete)}", "warn")
        else:
            self.served.value = _status_html(text, "ok")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
