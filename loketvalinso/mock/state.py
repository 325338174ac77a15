"""The mock's current world, which writes change.

A :class:`~loketvalinso.mock.world.World` is immutable (and the seeded one is shared by every mock
of a process), so a write never changes it: it builds a changed copy
(:mod:`~loketvalinso.mock.world_edits`) and :meth:`WorldState.apply` swaps it in, under one lock,
then tells each API which rows of which frames changed, so they refresh only what they rendered
from those rows. ``m.world`` is always the state's current world: the ground truth tests compare
with after a write.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TypeVar

from loketvalinso.mock.world import World

__all__ = ["Changes", "Listener", "WorldState"]

#: Frame name → the ids (or row keys) of the rows a write added, changed or removed.
Changes = Mapping[str, frozenset[Hashable]]
#: Called after a change: ``(old world, new world, changes)``.
Listener = Callable[[World, World, Changes], None]

_T = TypeVar("_T")


class WorldState:
    """Holds the current world; :meth:`apply` runs one write at a time."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []

    @property
    def world(self) -> World:
        """The world now (a read takes it once and uses that one)."""
        return self._world

    @contextlib.contextmanager
    def writing(self) -> Iterator[World]:
        """Hold the write lock: a handler that checks (``If-Match``, the business rules) and
        then applies sees no other write in between. Yields the current world."""
        with self._lock:
            yield self._world

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change."""
        self._listeners.append(listener)

    def apply(self, edit: Callable[[World], tuple[World, Changes, _T]]) -> _T:
        """Run ``edit`` on the current world and make its world the current one.

        ``edit`` returns ``(new world, changes, result)``; it runs under the state's lock, so
        writes never interleave. The listeners run before the lock is released: a write's
        answer is sent only once every later read sees it.
        """
        with self._lock:
            old = self._world
            new, changes, result = edit(old)
            if new is not old:
                self._world = new
                for listener in self._listeners:
                    listener(old, new, changes)
            return result
