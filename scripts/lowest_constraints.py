"""Print pip constraints that pin every dependency to its declared lower bound.

``pip install -c <(python scripts/lowest_constraints.py all dev) -e ".[all,dev]"`` installs
exactly the oldest versions ``pyproject.toml`` promises to work with (their own dependencies
resolve as usual); ``.ci/run`` does so and runs the fast tests, so a lower bound that stops
holding fails CI.

Every requirement must carry a ``>=`` bound: one without is reported and the script exits 1.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def requirements(extras: list[str]) -> list[str]:
    """The project's own requirements and those of ``extras`` (extras of itself expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = project["name"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    found: list[str] = list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            msg = f"no extra {extra!r} in pyproject.toml (has: {', '.join(optional)})"
            raise SystemExit(msg)
        for requirement in optional[extra]:
            match = _REQUIREMENT.match(requirement)
            if match and match.group(1) == name:  # "loketvalinso[widgets,charts]"
                pending += [e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e]
            else:
                found.append(requirement)
    return found


def lowest(requirement: str) -> str:
    """``"polars>=1.36.1"`` → ``"polars==1.36.1"``."""
    match = _REQUIREMENT.match(requirement)
    bound = re.search(r">=\s*([^,;\s]+)", match.group(3)) if match else None
    if match is None or bound is None:
        msg = f"{requirement!r} has no lower bound (>=): declare one"
        raise ValueError(msg)
    return f"{match.group(1).lower()}=={bound.group(1)}"


def main(argv: list[str]) -> int:
    pins: dict[str, str] = {}
    problems = []
    for requirement in requirements(argv or ["all"]):
        try:
            pin = lowest(requirement)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        pins.setdefault(pin.split("==")[0], pin)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print("\n".join(sorted(pins.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
