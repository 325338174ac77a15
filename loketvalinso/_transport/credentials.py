"""Credentials checked when they are given, never quoted.

A token read from a file or an environment variable ends in a newline; a key copied from an
e-mail may carry a tab. Sent as they are, httpx refuses the header and quotes it whole in its
error. :func:`clean_credential` strips surrounding whitespace and refuses, by position only, a
character a credential cannot hold.
"""

from __future__ import annotations

import re

from loketvalinso.errors import ConfigurationError

__all__ = ["clean_credential", "header_safe"]

#: Characters no credential holds: controls (line breaks, tabs, NUL, DEL, C1, line separators).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What a value sent in an HTTP header or a URL may not hold: anything but printable ASCII.
_NOT_HEADER_TEXT = re.compile(r"[^\x21-\x7e]")


def clean_credential(value: object, *, what: str, header: bool = True, strip: bool = True) -> str:
    """``value`` checked and normalised: surrounding whitespace stripped (a token read from a
    file or an environment variable often ends in a newline).

    Parameters
    ----------
    value : str
        The credential.
    what : str
        Its name in the message (``"the access_token"``).
    header : bool
        It travels in an HTTP header or a URL: printable ASCII only, no space inside.
    strip : bool
        Strip surrounding whitespace (not for passwords, where spaces may be part of them).

    Raises
    ------
    ConfigurationError
        Not text, empty, or holding a character it cannot hold. The message names the
        position, never the value.
    """
    if not isinstance(value, str):
        msg = f"{what} must be text, not {type(value).__name__}"
        raise ConfigurationError(msg)
    text = value.strip() if strip else value
    if not text:
        msg = f"{what} is empty"
        raise ConfigurationError(msg)
    bad = (_NOT_HEADER_TEXT if header else _CONTROL).search(text)
    if bad is not None:
        kind = (
            "a line break or control character"
            if _CONTROL.match(bad.group())
            else ("a space" if bad.group().isspace() else "a character outside printable ASCII")
        )
        msg = (
            f"{what} contains {kind} (at position {bad.start() + 1} of {len(text)}), which it "
            "cannot hold: copy it again, without quotes or line breaks"
        )
        raise ConfigurationError(msg)
    return text


def header_safe(value: object) -> bool:
    """Whether ``value`` can travel in an HTTP header as it is (non-empty printable ASCII)."""
    return isinstance(value, str) and bool(value) and _NOT_HEADER_TEXT.search(value) is None
