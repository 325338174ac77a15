"""Changed copies of a world: rows updated, added or removed, and the balances that follow.

Pure functions: a :class:`~loketvalinso.mock.world.World` in, a new one out (its other frames
shared), with the :data:`~loketvalinso.mock.state.Changes` that say which rows differ. The APIs
decide what may change (their business rules); this module only makes the change, keeps every
frame in its schema (:mod:`~loketvalinso.mock.schema`) and keeps the ledger and the balances
adding up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from loketvalinso.mock.schema import LOKET_SCHEMAS, VALINSO_SCHEMAS
from loketvalinso.mock.world import World, leave_balances_at

__all__ = ["BALANCE_KEY", "KEYS", "edit_rows", "merge_changes", "row_of"]

#: The columns that identify a balance row (balances have no id).
BALANCE_KEY = ("employment_id", "year", "leave_type_key")
#: The key column of each frame whose rows have one other than ``id``.
KEYS: dict[str, str] = {"functions": "key"}
_SCHEMAS = {**LOKET_SCHEMAS, **VALINSO_SCHEMAS}


def row_of(world: World, frame: str, row_id: Any) -> dict[str, Any] | None:
    """The row of ``frame`` whose key is ``row_id`` (as a dict), or None."""
    data: pl.DataFrame = getattr(world, frame)
    hit = data.filter(pl.col(KEYS.get(frame, "id")) == row_id)
    return hit.row(0, named=True) if hit.height else None


def edit_rows(
    world: World,
    frame: str,
    *,
    update: Mapping[Any, Mapping[str, Any]] | None = None,
    add: Sequence[Mapping[str, Any]] = (),
    remove: Iterable[Any] = (),
) -> tuple[World, dict[str, frozenset[Hashable]]]:
    """``world`` with rows of ``frame`` updated (key → {column: value}), added and removed.

    Added rows must give every column of the frame's schema (missing ones are null). A change
    to the leave ledger recomputes the balances (:func:`~loketvalinso.mock.world.leave_balances_at`).

    Returns
    -------
    (World, changes)
        The new world and, per frame, the keys of the rows that differ.
    """
    key = KEYS.get(frame, "id")
    schema = _SCHEMAS[frame]
    data: pl.DataFrame = getattr(world, frame)
    changed: set[Hashable] = set()
    gone = set(remove)
    if gone:
        data = data.filter(~pl.col(key).is_in(list(gone)))
        changed |= gone
    for columns, keys in _by_columns(update or {}).items():
        patch = pl.DataFrame(
            {key: keys, **{c: [update[k][c] for k in keys] for c in columns}},  # type: ignore[index]
            schema={key: schema[key], **{c: schema[c] for c in columns}},
        )
        data = data.update(patch, on=key, how="left", include_nulls=True)
        changed |= set(keys)
    if add:
        rows = pl.DataFrame([dict(r) for r in add], schema=schema)
        data = pl.concat([data, rows], how="vertical")
        changed |= set(rows.get_column(key).to_list())
    new = dataclasses.replace(world, **{frame: data.select(list(schema))})  # type: ignore[arg-type]
    changes: dict[str, frozenset[Hashable]] = {frame: frozenset(changed)}
    if frame == "leave" and changed:
        new, balances = _rebalance(new)
        changes["leave_balances"] = balances
    return new, changes


def merge_changes(*parts: Mapping[str, frozenset[Hashable]]) -> dict[str, frozenset[Hashable]]:
    """The union of several :func:`edit_rows` changes."""
    out: dict[str, frozenset[Hashable]] = {}
    for part in parts:
        for frame, keys in part.items():
            out[frame] = out.get(frame, frozenset()) | keys
    return out


def _by_columns(update: Mapping[Any, Mapping[str, Any]]) -> dict[tuple[str, ...], list[Any]]:
    """Updates grouped by the columns they set (one patch frame per group)."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    for row_key, values in update.items():
        groups.setdefault(tuple(sorted(values)), []).append(row_key)
    return groups


def _rebalance(world: World) -> tuple[World, frozenset[Hashable]]:
    """Balances recomputed from the ledger; the keys of the balance rows that differ."""
    new = leave_balances_at(world, world.reference_date)
    old = world.leave_balances
    columns = list(new.columns)
    differ = pl.concat(
        [
            new.join(old, on=columns, how="anti", nulls_equal=True),
            old.join(new, on=columns, how="anti", nulls_equal=True),
        ]
    ).select(BALANCE_KEY)
    keys = frozenset(tuple(row) for row in differ.unique().iter_rows())
    return dataclasses.replace(world, leave_balances=new), keys
