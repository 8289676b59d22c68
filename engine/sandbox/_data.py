"""What a script may leave behind as task data, and how heavy it may be.

Task data is serialized after every step, so a value that is small in memory but huge once
written out (a list holding itself, ``x = [x, x]`` repeated) must be refused before it is kept.
:func:`_weigh` counts it the way the serializer will, shared parts once per reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from loanflow.engine.errors import ScriptError

_CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset})
_DATA_TYPES: Final = _CONTAINERS | {
    *(type(None), bool, int, float, str, bytes, Decimal),
    *(date, datetime, time, timedelta),
}
_DATA_WEIGHT: Final = 4  # task data kept may weigh 4 x max_sequence_length (see _weigh)


def _key_weight(mapping: dict[Any, Any]) -> int:
    try:
        return sum(map(len, mapping)) >> 4  # keys are nearly always strings
    except TypeError:
        return sum(len(k) for k in mapping if type(k) is str or type(k) is bytes) >> 4


def _leaf_weight(container: Any) -> int | None:
    """The weight of a container that holds no containers (most rows of task data), else None."""
    if type(container) is dict:
        weight = 2 * len(container) + 1 + _key_weight(container)
        children: Iterable[Any] = container.values()
    else:
        weight = len(container) + 1
        children = container
    for child in children:
        kind = type(child)
        if kind is str or kind is bytes:
            weight += len(child) >> 4
        elif kind in _CONTAINERS:
            return None
    return weight


def _weigh(name: str, value: Any, room: int, weights: dict[int, int]) -> int:
    """``room`` less the weight of ``value``: one per element, one per 16 characters.

    Shared parts weigh once per reference, as they will when the task data is serialized, so
    ``x = [x, x]`` sixty times over is refused here instead of hanging the serializer; so is
    a container that holds itself. ``weights`` memoizes finished containers by id, which keeps
    the walk linear in the number of distinct containers.
    """
    entered: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, finished = stack.pop()
        key = id(item)
        if not finished and key in weights:
            continue
        if type(item) is dict:
            weight = 2 * len(item) + 1 + _key_weight(item)
            children: Iterable[Any] = item.values()
        else:
            weight = len(item) + 1
            children = item
        pending = None
        for child in children:
            kind = type(child)
            if kind is str or kind is bytes:
                weight += len(child) >> 4
            elif kind in _CONTAINERS:
                known = weights.get(id(child))
                if known is None and (known := _leaf_weight(child)) is not None:
                    weights[id(child)] = known
                if known is not None:
                    weight += known
                elif pending is None:
                    pending = [child]
                else:
                    pending.append(child)
        if pending is not None:
            if finished or key in entered:  # a child still unfinished after its visit: a cycle
                raise ScriptError(f"{name} contains itself and cannot be kept as task data")
            entered.add(key)
            stack.append((item, True))
            stack.extend((child, False) for child in pending)
            continue
        if weight > room:
            raise ScriptError(f"{name} is too large to keep as task data")
        weights[key] = weight
    return room - weights[id(value)]
