"""Secrets never leak: not into the cache, logs, warnings, errors, progress, reprs or notebooks.

Every login flow is used (authorization code + PKCE, password, refresh, a given access token,
the Valinso api key) with the disk cache on; then every place a secret could end up is searched
for every secret the mock ever issued or accepted.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sqlite3
import stat
import warnings
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

import loketvalinso as lv
from loketvalinso._transport.auth import Secret
from loketvalinso._transport.entries import decode_entry
from loketvalinso.errors import ConfigurationError, LoketValinsoError
from tests.keyring_backend import DictTokenStore

pytestmark = pytest.mark.timeout(120)


def _variants(secret: str) -> set[bytes]:
    """The secret as it could be written: raw, URL-encoded, JSON-escaped, base64."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), secret.replace("/", "\\/")}
    out = {f.encode() for f in forms}
    out.add(base64.b64encode(secret.encode()).rstrip(b"="))
    return out


def _issued_secrets(m, creds) -> dict[str, str]:
    """Every secret the mock knows: the fixed credentials, and every token and code it issued."""
    found = {
        "client_secret": creds.client_secret,
        "password": creds.password,
        "valinso_api_key": creds.valinso_api_key,
    }
    oauth = m.app.oauth
    for i, token in enumerate(oauth._access):
        found[f"access_token[{i}]"] = token
    for i, token in enumerate(oauth._refresh):
        found[f"refresh_token[{i}]"] = token
    for i, code in enumerate([*oauth._codes, *oauth._used_codes]):
        found[f"authorization_code[{i}]"] = code
    return found


def _search(haystacks: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    leaks = []
    for where, blob in haystacks.items():
        for name, secret in secrets.items():
            if len(secret) < 8:
                continue
            if any(v in blob for v in _variants(secret)):
                leaks.append(f"{name} found in {where}")
    return leaks


def _cache_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of the cache folder, and the decompressed body of every stored response."""
    found = {
        f"cache:{p.relative_to(folder)}": p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    if (folder / "cache.db").exists():
        with sqlite3.connect(folder / "cache.db") as db:
            rows = db.execute("SELECT key, value, filename FROM Cache").fetchall()
        for key, value, filename in rows:
            data = bytes(value) if value is not None else (folder / filename).read_bytes()
            if data.startswith(b"LVC"):
                found[f"cache body:{key}"] = decode_entry(data).body
    return found


def _error_texts(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), *map(str, exc.args), *getattr(exc, "__notes__", [])]
    for attr in ("url", "messages", "errors", "hint"):
        parts.append(repr(getattr(exc, attr, None)))
    if exc.__cause__ is not None:
        parts.append(_error_texts(exc.__cause__))
    if exc.__context__ is not None and exc.__context__ is not exc.__cause__:
        parts.append(_error_texts(exc.__context__))
    return "\n".join(parts)


def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every record at DEBUG (the root's level; the libraries' own loggers too)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "loketvalinso", "hpack", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)


def test_no_secret_anywhere_after_every_flow(small_world, employer_id, tmp_path, caplog, capsys):
    cache_dir = tmp_path / "cache"
    seen_tokens: list[dict] = []
    _log_everything(caplog)
    own_log = io.StringIO()
    handler = lv.enable_logging("DEBUG", stream=own_log)  # what a notebook user would see
    texts: list[str] = []
    with (
        lv.mock.serve(seed=7, world=small_world, expires=600, token_lifetime=30) as m,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        creds = m.credentials
        options = {"cache": cache_dir, "progress": True, "on_token": seen_tokens.append}

        # 1. authorization code + PKCE, 2. password grant
        code_client = lv.Loket.from_mock(m, **options)
        password_client = lv.Loket.from_mock(m, flow="password", **options)
        code_client.employees(employer_id)
        password_client.leave_requests(employer_id)
        code_client.leave(employer_id)  # a walk, with the cache on
        # 3. refresh: a client holding only a refresh token
        refresh_token = seen_tokens[-1]["refresh_token"]
        refresh_client = lv.Loket(
            base_url=m.loket_url,
            token_url=m.token_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            refresh_token=refresh_token,
            **options,
        )
        refresh_client.employments(employer_id)
        code_client.oauth.refresh()
        # 4. an access token obtained elsewhere
        token_client = lv.Loket(
            base_url=m.loket_url,
            access_token=code_client.oauth.access_token,
            cache=cache_dir,
            progress=True,
        )
        token_client.departments(employer_id)
        token_client.employees(employer_id)  # again: served from the cache
        # 5. Valinso api key
        valinso = lv.Valinso.from_mock(m, cache=cache_dir, progress=True, limit=1000)
        valinso.vends()
        valinso.devices()
        # 6. a remembered login (token store), taken up by a second client; a deferred
        # password login; reuse past the server's word
        box = DictTokenStore()
        remembered = lv.Loket.from_mock(m, token_store=box, **options)
        remembered.employees(employer_id, cache_ttl=60)
        again = lv.Loket(
            base_url=m.loket_url,
            token_url=m.token_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            token_store=box,
            cache=cache_dir,
        )
        again.employees(employer_id, cache_ttl=60)
        deferred = lv.Loket(
            base_url=m.loket_url,
            token_url=m.token_url,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            username=creds.username,
            password=creds.password,
            cache=cache_dir,
        )
        texts += [repr(deferred), deferred._repr_html_(), repr(again), again._repr_html_()]
        deferred.departments(employer_id)
        # the store holds the refresh token by design (the keyring, in real use); what else it
        # keeps is searched
        texts.append(repr({k: {**v, "refresh_token": "…"} for k, v in box.records.items()}))

        # Errors, each with secrets at hand.
        forbidden = small_world.employers.filter(~small_world.employers["accessible"])["id"][0]
        failing = [
            lambda: code_client.departments(forbidden),
            lambda: lv.Valinso(
                api_key=creds.valinso_api_key + "x", base_url=m.valinso_url, cache=cache_dir
            ).vends(),
            lambda: lv.Loket(
                base_url=m.loket_url,
                token_url=m.token_url,
                client_id=creds.client_id,
                client_secret=creds.client_secret,
                refresh_token=refresh_token + "x",
                cache=cache_dir,
            ).employers(),
            lambda: lv.Loket.from_mock(m, cache=cache_dir).login_password(
                creds.username, creds.password + "x"
            ),
            lambda: lv.Loket(
                base_url=m.loket_url,
                token_url=m.token_url,
                client_id=creds.client_id,
                client_secret=creds.client_secret + "x",
                cache=False,
            ).login_password(creds.username, creds.password),
            lambda: code_client.finish_login(
                f"{creds.redirect_uri}?code={refresh_token}&state=nope"
            ),
            lambda: valinso.post(
                "/locations", {"name": creds.password, "email": creds.client_secret}
            ),
            lambda: lv.Loket(base_url="http://api.loket.nl/v2", access_token=refresh_token),
            lambda: valinso.get("/device/999999"),
            lambda: lv.Loket(
                base_url=m.loket_url, access_token="expired" + refresh_token, cache=False
            ).employers(),
        ]
        for trigger in failing:
            try:
                trigger()
            except (LoketValinsoError, ValueError) as exc:
                texts.append(_error_texts(exc))
            else:  # pragma: no cover - each one must fail
                texts.append("no error")
        assert "no error" not in texts

        for obj in (code_client, password_client, refresh_client, token_client, valinso, again):
            texts += [repr(obj), str(obj), obj._repr_html_()]
            for attr in ("oauth", "_auth", "_http", "last_load", "cache"):
                value = getattr(obj, attr, None)
                if value is not None:
                    texts += [repr(value), str(value)]
            auth = obj._http.auth
            texts += [repr(auth), str(auth), repr(vars(obj)) if hasattr(obj, "__dict__") else ""]
            load = getattr(obj, "last_load", None)
            if load is not None:
                texts.append(str(getattr(load, "__dict__", load)))
        texts.append(repr(creds))
        secrets = _issued_secrets(m, creds)
        for client in (code_client, password_client, refresh_client, token_client, valinso):
            client.close()
        for client in (remembered, again, deferred):
            client.close()

    # retries under faults, logged at INFO with their URLs
    with lv.mock.serve(seed=7, world=small_world, error_rate=0.2) as faulty:
        with lv.Loket.from_mock(faulty, cache=cache_dir, progress=False, page_size=20) as loket:
            loket.leave_requests(employer_id)
        with lv.Valinso.from_mock(faulty, cache=False, progress=False, limit=500) as v:
            v.vends()
        secrets.update(
            {f"faulty {k}": v for k, v in _issued_secrets(faulty, faulty.credentials).items()}
        )
        assert faulty.faults.counts["server_errors"] > 0
    logging.getLogger("loketvalinso").removeHandler(handler)
    logging.getLogger("loketvalinso").setLevel(logging.NOTSET)

    captured = capsys.readouterr()
    haystacks = {
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records).encode(),
        "lv.enable_logging output": own_log.getvalue().encode(),
        "warnings": "\n".join(f"{w.category.__name__}: {w.message}" for w in caught).encode(),
        "errors/reprs": "\n".join(texts).encode(),
        "stderr (progress)": captured.err.encode(),
        "stdout": captured.out.encode(),
        **_cache_bytes(cache_dir),
    }
    assert len(secrets) >= 8, secrets.keys()  # several tokens were issued and are searched for
    assert any(r.name.startswith("httpx") or r.name.startswith("httpcore") for r in caplog.records)
    # the toolkit's own loggers spoke, so the search covered what they say
    ours = {r.name for r in caplog.records if r.name.startswith("loketvalinso.")}
    assert {"loketvalinso.auth", "loketvalinso.load", "loketvalinso.cache"} <= ours, ours
    assert (
        "loketvalinso.retry" in ours and "refreshing the Loket access token" in own_log.getvalue()
    )
    assert len(haystacks) > 5  # the cache holds files
    leaks = _search(haystacks, secrets)
    assert not leaks, leaks
    # The cache folder is private.
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700


#: Values sent in query parameters whose names say they are secret: redacted wherever a URL is
#: shown or stored.
SECRET_PARAMS = {
    "key": "param-key-0123456789",
    "secret": "param-secret-0123456789",
    "sig": "param-sig-0123456789",
    "signature": "param-signature-0123456789",
    "id_token": "param-id-token-0123456789",
}


def _with_userinfo(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def test_messy_and_embedded_secrets_never_leak(small_world, employer_id, tmp_path, caplog):
    """Tokens and keys read from a file (a trailing newline) work and never show; ones with a
    control character inside are refused without being quoted; a client secret in a URL
    (``user:secret@host``) and secret query parameters are redacted in errors, ``last_load``
    (text and HTML), logs and the cache files."""
    cache_dir = tmp_path / "cache"
    _log_everything(caplog)
    texts: list[str] = []
    with (
        lv.mock.serve(seed=7, world=small_world, expires=600) as m,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        creds = m.credentials
        token = lv.Loket.from_mock(m, cache=False).oauth.access_token
        # from a file or an environment variable: surrounding whitespace is stripped
        messy = lv.Loket(base_url=m.loket_url, access_token=f"  {token}\r\n", cache=cache_dir)
        employees = small_world.employees.filter(
            small_world.employees["employer_id"] == employer_id
        )
        assert messy.employees(employer_id).height == employees.height
        valinso = lv.Valinso(
            api_key=creds.valinso_api_key + "\n", base_url=m.valinso_url, cache=cache_dir
        )
        assert valinso.get("/devices", params=SECRET_PARAMS).height == small_world.devices.height
        texts += [repr(valinso.last_load), valinso.last_load._repr_html_()]  # type: ignore[union-attr]
        # the client secret in the token URL (HTTP Basic client authentication)
        basic = lv.Loket(
            base_url=m.loket_url,
            token_url=_with_userinfo(m.token_url, creds.client_id, creds.client_secret),
            client_id=creds.client_id,
            username=creds.username,
            password=creds.password,
            cache=cache_dir,
        )
        assert basic.employers().height >= 1
        texts += [repr(basic.oauth), repr(basic.last_load), basic.last_load._repr_html_()]  # type: ignore[union-attr]

        refused: list[tuple[str, object]] = [
            (
                "a token with a line break inside",
                lambda: lv.Loket(
                    base_url=m.loket_url, access_token=token[:9] + "\n" + token[9:], cache=False
                ),
            ),
            (
                "a token with a NUL",
                lambda: lv.Loket(base_url=m.loket_url, access_token=token + "\x00", cache=False),
            ),
            (
                "a key with a tab inside",
                lambda: lv.Valinso(
                    api_key=creds.valinso_api_key[:5] + "\t" + creds.valinso_api_key[5:],
                    base_url=m.valinso_url,
                    cache=False,
                ),
            ),
            (
                "a password in the API URL",
                lambda: lv.Valinso(
                    api_key=creds.valinso_api_key,
                    base_url=_with_userinfo(m.valinso_url, "user", creds.password),
                    cache=False,
                ),
            ),
        ]
        before = len(m.app.requests)
        for what, make in refused:
            with pytest.raises(ConfigurationError) as info:
                make()  # type: ignore[operator]
            texts.append(_error_texts(info.value))
            assert "position" in str(info.value) or "user:password@" in str(info.value), what
        assert len(m.app.requests) == before  # refused before anything was sent

        # errors whose URL carries the secrets: the 404 of a Valinso device, a refused refresh
        with pytest.raises(LoketValinsoError) as info:
            valinso.get("/device/999999", params=SECRET_PARAMS)
        texts += [_error_texts(info.value), repr(valinso.last_load)]
        texts.append(valinso.last_load._repr_html_())  # type: ignore[union-attr]
        assert "sig=***" in str(info.value) and valinso.last_load.status == "error"  # type: ignore[union-attr]
        stale = lv.Loket(
            base_url=m.loket_url,
            token_url=_with_userinfo(m.token_url, creds.client_id, creds.client_secret),
            client_id=creds.client_id,
            refresh_token="not-a-valid-refresh-token",
            cache=False,
        )
        with pytest.raises(LoketValinsoError) as info:
            stale.employers()
        texts += [_error_texts(info.value), repr(stale.oauth), repr(stale.last_load)]
        assert "***@127.0.0.1" in str(info.value)
        secrets = {
            **_issued_secrets(m, creds),
            **{f"query {k}": v for k, v in SECRET_PARAMS.items()},
        }
        for client in (messy, valinso, basic, stale):
            client.close()

    haystacks = {
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records).encode(),
        "warnings": "\n".join(f"{w.category.__name__}: {w.message}" for w in caught).encode(),
        "errors/last_load": "\n".join(texts).encode(),
        **_cache_bytes(cache_dir / ""),
    }
    # the searches found something to search: the httpx request lines and the cached entries
    assert any("HTTP Request: GET http://127.0.0.1" in r.getMessage() for r in caplog.records)
    assert any("sig=***" in r.getMessage() for r in caplog.records)
    assert any(b"sig=***" in blob for where, blob in haystacks.items() if where.startswith("cache"))
    leaks = _search(haystacks, secrets)
    assert not leaks, leaks


def test_no_secret_in_writes_dry_runs_errors_or_the_request_log(
    small_world, employer_id, tmp_path, caplog, capsys
):
    import polars as pl

    leave_request = "/providers/employers/employees/employments/leaverequests/{leaveRequestId}"
    cache_dir = tmp_path / "cache"
    _log_everything(caplog)
    texts: list[str] = []
    with (
        lv.mock.serve(seed=7, world=small_world, expires=600) as m,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        creds = m.credentials
        loket = lv.Loket.from_mock(m, cache=cache_dir, progress=True)
        other = lv.Loket.from_mock(m, flow="password", cache=cache_dir, progress=True)
        valinso = lv.Valinso.from_mock(m, cache=cache_dir, progress=True)
        submitted = m.world.leave_requests.filter(pl.col("leave_request_status_key") == 1)["id"]
        accepted = m.world.leave_requests.filter(pl.col("leave_request_status_key") == 2)["id"]
        first = submitted[0]
        row = loket.get(leave_request, leave_request_id=first)
        stale = other.get(leave_request, leave_request_id=first)
        dry = [
            loket.put(leave_request, row, leave_request_id=first, dry_run=True),
            loket.set_leave_request_status([submitted[1], accepted[0]], "accept", dry_run=True),
            valinso.post_vends([{"device_id": 1, "product_id": 1, "timestamp": 1}], dry_run=True),
            valinso.delete("/vend/1", dry_run=True),
        ]
        texts += [str(d) for d in dry] + [d._repr_html_() for d in dry] + [repr(d) for d in dry]
        loket.put(leave_request, row.with_columns(comment_handler=pl.lit("a")),
                  leave_request_id=first)  # fmt: skip
        loket.set_leave_request_status([submitted[1], accepted[0]], "accept")
        failing = [
            lambda: other.put(leave_request, stale, leave_request_id=first),  # 409
            lambda: loket.set_leave_request_status([accepted[1]], "accept"),  # every one failed
            lambda: loket.put(leave_request, {"coment": "x"}, leave_request_id=first),
            lambda: valinso.post_vends([{"device_id": -1, "timestamp": "noon"}]),
            lambda: valinso.put("/device/1", {"status": "kapot"}),
            lambda: valinso.delete("/device/999999"),
        ]
        for trigger in failing:
            try:
                trigger()
            except LoketValinsoError as exc:
                texts.append(_error_texts(exc))
                for attr in ("current", "diff", "sent", "outcomes", "created"):
                    texts.append(repr(getattr(exc, attr, None)))
            else:  # pragma: no cover - each one must fail
                texts.append("no error")
        assert "no error" not in texts
        valinso.put("/device/2", {"status": "inactive"})
        for client in (loket, other, valinso):
            texts += [repr(client.last_load), repr(vars(client))]
        log = [f"{r.method} {r.path}?{r.query} {r.status} {r.body!r}" for r in m.app.requests]
        assert any(r.method == "PATCH" for r in m.app.requests)
        secrets = _issued_secrets(m, creds)
        for client in (loket, other, valinso):
            client.close()
    captured = capsys.readouterr()
    haystacks = {
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records).encode(),
        "warnings": "\n".join(f"{w.category.__name__}: {w.message}" for w in caught).encode(),
        "dry runs, errors, reprs": "\n".join(texts).encode(),
        "the mock's request log": "\n".join(log).encode(),
        "stderr (progress)": captured.err.encode(),
        **_cache_bytes(cache_dir),
    }
    assert len(secrets) >= 6, secrets.keys()  # the credentials, tokens and codes
    leaks = _search(haystacks, secrets)
    assert not leaks, leaks
    assert b"Bearer ***" in haystacks["dry runs, errors, reprs"]


def test_secret_objects_refuse_to_be_pickled(small_world):
    import pickle

    m = lv.mock.in_process(seed=7, world=small_world)
    loket = lv.Loket.from_mock(m, cache=False)
    valinso = lv.Valinso.from_mock(m, cache=False)
    for obj in (loket.oauth, valinso._auth, Secret("x")):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(obj)


NOTEBOOK_CELLS = [
    """import os, httpx, polars as pl
import loketvalinso as lv
from loketvalinso.widgets import LoketLogin, ValinsoLogin
env = os.environ
opts = {"cache": env["LV_T_CACHE"], "progress": True,
        "base_url": env["LV_T_LOKET"], "token_url": env["LV_T_TOKEN"], "authorize_url": env["LV_T_AUTHORIZE"]}""",
    """login = LoketLogin(environment="production", client_id=env["LV_T_CLIENT_ID"],
                   redirect_uri=env["LV_T_REDIRECT"], client_options=opts)
login.client_secret.value = env["LV_T_CLIENT_SECRET"]
login.log_in()
login.widget""",
    """link = login._pending.authorization_url()
redirect = httpx.get(link, follow_redirects=False).headers["location"]
login.redirect.value = redirect
login.finish()
del redirect, link
login.widget""",
    """loket = login.client
employees = loket.employees(env["LV_T_EMPLOYER"])
print(loket, loket.oauth)
employees.head(3)""",
    """vlogin = ValinsoLogin(version="head", base_url=env["LV_T_VALINSO"],
                     client_options={"cache": env["LV_T_CACHE"], "progress": True})
vlogin.api_key.value = env["LV_T_API_KEY"]
vlogin.test_connection()
vlogin.widget""",
    """vends = vlogin.client.vends()
print(vlogin.client, vends.height)
vends.head(3)""",
    """try:
    vlogin.client.post("/locations", {"name": ""})
except Exception as exc:
    print(exc)
bad = ValinsoLogin(version="head", base_url=env["LV_T_VALINSO"], client_options={"cache": False})
bad.api_key.value = env["LV_T_API_KEY"] + "wrong"
bad.test_connection()
bad.widget""",
    # a token read from a file (trailing newline), the client secret in the token URL, secret
    # query parameters: every URL and load report shown below is redacted
    """import json
messy = lv.Loket(base_url=env["LV_T_LOKET"], access_token=env["LV_T_MESSY_TOKEN"],
                 cache=env["LV_T_CACHE"], progress=True)
messy.employees(env["LV_T_EMPLOYER"]).head(2)""",
    """basic = lv.Loket(base_url=env["LV_T_LOKET"], token_url=env["LV_T_TOKEN_BASIC"],
                 client_id=env["LV_T_CLIENT_ID"], username=env["LV_T_USER"],
                 password=env["LV_T_PASSWORD"], cache=env["LV_T_CACHE"])
print(basic.oauth)
basic.employers()
basic.last_load""",
    """vmessy = lv.Valinso(api_key=env["LV_T_API_KEY"] + "\\n", base_url=env["LV_T_VALINSO"],
                    cache=env["LV_T_CACHE"])
try:
    vmessy.get("/device/999999", params=json.loads(env["LV_T_PARAMS"]))
except Exception as exc:
    print(exc)
vmessy.last_load""",
]


def test_executed_saved_notebook_holds_no_secret(small_world, employer_id, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    pytest.importorskip("ipykernel")
    cache_dir = tmp_path / "nbcache"
    with lv.mock.serve(seed=7, world=small_world, expires=600) as m:
        creds = m.credentials
        for key, value in {
            "LV_T_CACHE": str(cache_dir),
            "LV_T_LOKET": m.loket_url,
            "LV_T_TOKEN": m.token_url,
            "LV_T_AUTHORIZE": m.authorize_url,
            "LV_T_CLIENT_ID": creds.client_id,
            "LV_T_REDIRECT": creds.redirect_uri,
            "LV_T_CLIENT_SECRET": creds.client_secret,
            "LV_T_EMPLOYER": employer_id,
            "LV_T_VALINSO": m.valinso_url,
            "LV_T_API_KEY": creds.valinso_api_key,
            "LV_T_MESSY_TOKEN": lv.Loket.from_mock(m, cache=False).oauth.access_token + "\n",
            "LV_T_TOKEN_BASIC": _with_userinfo(m.token_url, creds.client_id, creds.client_secret),
            "LV_T_USER": creds.username,
            "LV_T_PASSWORD": creds.password,
            "LV_T_PARAMS": json.dumps(SECRET_PARAMS),
        }.items():
            monkeypatch.setenv(key, value)
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        client = nbclient.NotebookClient(
            nb,
            timeout=90,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()  # the kernel inherits the LV_T_* variables: no secret in a cell
        saved = tmp_path / "executed.ipynb"
        nbformat.write(nb, saved)
        secrets = {
            **_issued_secrets(m, creds),
            **{f"query {k}": v for k, v in SECRET_PARAMS.items()},
        }
        assert m.app.count(path_prefix="/v2/") >= 1 and m.app.count(path_prefix="/api/") >= 2
    text = saved.read_bytes()
    # the messy-secret cells ran, and showed their URLs and load reports redacted
    assert b"sig=***" in text and b"***@127.0.0.1" in text and b"loketvalinso-loadreport" in text
    widget_state = nb.metadata.get("widgets", {})
    assert widget_state, "the saved notebook holds no widget state: the test proved little"
    # The widgets' status lines (in the saved widget state) show the flows really ran.
    assert b"logged in to production" in text and b"connected to 127.0.0.1" in text
    assert b"Invalid API key" in text
    assert all(c.get("outputs") is not None for c in nb.cells)
    leaks = _search({"notebook": text, **_cache_bytes(cache_dir)}, secrets)
    assert not leaks, leaks
