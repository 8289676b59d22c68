"""Collecting workers explicitly: a built-in list, the caller's own, and installed plugins.

Third-party packages offer workers through the ``loanflow.workers`` entry-point group::

    [project.entry-points."loanflow.workers"]
    acme_bureau = "acme_loanflow.workers:ALL"      # a list of @worker functions, or one

A plugin that cannot be imported, offers something that is not a ``@worker`` function, or
claims a topic already taken is reported as a :class:`PluginProblem` and skipped: one
broken package must not stop the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from loanflow.workers.sdk import WorkerDefinition, definition_of

__all__ = ["ENTRY_POINT_GROUP", "PluginProblem", "WorkerRegistry", "collect_workers"]

ENTRY_POINT_GROUP = "loanflow.workers"

logger = logging.getLogger(__name__)

WorkerLike = Callable[..., Any] | WorkerDefinition


def _as_definition(item: WorkerLike) -> WorkerDefinition:
    return item if isinstance(item, WorkerDefinition) else definition_of(item)


class WorkerRegistry:
    """An immutable set of workers with distinct topics.

    Passing the same worker twice is harmless; two different workers for one topic raise
    ValueError, and anything not declared with ``@worker`` raises TypeError.
    """

    def __init__(self, workers: Iterable[WorkerLike] = ()) -> None:
        self._by_topic: dict[str, WorkerDefinition] = {}
        for item in workers:
            defn = _as_definition(item)
            clash = _clash(self._by_topic, defn)
            if clash:
                raise ValueError(clash)
            self._by_topic[defn.topic] = defn

    def get(self, topic: str) -> WorkerDefinition | None:
        return self._by_topic.get(topic)

    def __contains__(self, topic: object) -> bool:
        return isinstance(topic, str) and topic in self._by_topic

    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    def __iter__(self) -> Iterator[WorkerDefinition]:
        return (self._by_topic[topic] for topic in self.topics())

    def __len__(self) -> int:
        return len(self._by_topic)

    def __repr__(self) -> str:
        return f"WorkerRegistry({self.topics()!r})"


def _clash(known: dict[str, WorkerDefinition], defn: WorkerDefinition) -> str | None:
    existing = known.get(defn.topic)
    if existing is None or existing == defn:
        return None
    return f"topic {defn.topic!r} is declared by both {existing.name} and {defn.name}"


@dataclass(frozen=True)
class PluginProblem:
    """Why (part of) one entry point was skipped."""

    entry_point: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry_point}: {self.message}"


def _label(ep: EntryPoint) -> str:
    return f"{ep.name} = {ep.value}"


def _plugin_items(ep: EntryPoint) -> list[object]:
    loaded = ep.load()
    return list(loaded) if isinstance(loaded, list | tuple) else [loaded]


def collect_workers(
    *,
    builtin: bool = True,
    plugins: bool = True,
    extra: Iterable[WorkerLike] = (),
) -> tuple[WorkerRegistry, list[PluginProblem]]:
    """Gather the built-in workers, then ``extra``, then the installed plugins.

    Built-in and ``extra`` workers are the caller's own code, so a duplicate or undecorated
    one raises as in :class:`WorkerRegistry`. Plugins come last and lose every topic clash;
    their problems are returned (and logged), never raised.
    """
    known: dict[str, WorkerDefinition] = {}
    own: list[WorkerLike] = []
    if builtin:
        from loanflow.workers.builtin import BUILTIN_WORKERS

        own.extend(BUILTIN_WORKERS)
    own.extend(extra)
    for defn in WorkerRegistry(own):
        known[defn.topic] = defn

    problems: list[PluginProblem] = []

    def report(ep: EntryPoint, message: str) -> None:
        problem = PluginProblem(_label(ep), message)
        logger.warning("skipping worker plugin %s: %s", problem.entry_point, problem.message)
        problems.append(problem)

    if plugins:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_label):
            try:
                items = _plugin_items(ep)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
                report(ep, f"cannot load: {type(exc).__name__}: {exc}")
                continue
            if not items:
                report(ep, "offers no workers")
            for item in items:
                if isinstance(item, WorkerDefinition):
                    defn = item
                else:
                    try:
                        defn = definition_of(item)
                    except TypeError as exc:
                        report(ep, str(exc))
                        continue
                clash = _clash(known, defn)
                if clash:
                    report(ep, clash)
                    continue
                known[defn.topic] = defn
    return WorkerRegistry(known.values()), problems
