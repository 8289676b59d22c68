"""String builtins, including the regular-expression ones and their cost guards.

FEEL specifies XPath regular expressions; Python's ``re`` agrees on the common subset. Patterns
come from tenants, so a pattern is limited in length and refused when a repeated group repeats
or alternates inside (``(a+)+``, ``(a|aa)*``), the shapes that backtrack exponentially.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from loanflow.engine.feel._errors import FeelEvalError
from loanflow.engine.feel._function import Builtin, all_str, registrar, slice_1based
from loanflow.engine.feel._values import is_list

__all__ = ["FUNCTIONS", "MAX_PATTERN", "MAX_REGEX_INPUT"]

FUNCTIONS: dict[str, Builtin] = {}
builtin = registrar(FUNCTIONS)

MAX_PATTERN: Final = 200
MAX_REGEX_INPUT: Final = 10_000
# A repeated group that itself repeats or alternates is how regexes backtrack exponentially.
_RISKY_REGEX: Final = re.compile(r"\((?:[^()\\]|\\.)*[*+}|](?:[^()\\]|\\.)*\)[*+{]")


@builtin("string length", 1)
def _string_length(s: Any) -> int | None:
    return len(s) if isinstance(s, str) else None


@builtin("upper case", 1)
def _upper(s: Any) -> str | None:
    return s.upper() if isinstance(s, str) else None


@builtin("lower case", 1)
def _lower(s: Any) -> str | None:
    return s.lower() if isinstance(s, str) else None


@builtin("substring", 2, 3)
def _substring(s: Any, start: Any, length: Any = None) -> str | None:
    return slice_1based(s, start, length) if isinstance(s, str) else None


@builtin("substring before", 2)
def _substring_before(s: Any, match: Any) -> str | None:
    if not all_str(s, match):
        return None
    return s.partition(match)[0] if match and match in s else ""


@builtin("substring after", 2)
def _substring_after(s: Any, match: Any) -> str | None:
    if not isinstance(s, str) or not isinstance(match, str):
        return None
    if not match:
        return s
    return s.partition(match)[2] if match in s else ""


@builtin("contains", 2)
def _contains(s: Any, match: Any) -> bool | None:
    return match in s if all_str(s, match) else None


@builtin("starts with", 2)
def _starts_with(s: Any, match: Any) -> bool | None:
    return s.startswith(match) if all_str(s, match) else None


@builtin("ends with", 2)
def _ends_with(s: Any, match: Any) -> bool | None:
    return s.endswith(match) if all_str(s, match) else None


_FLAGS: Final = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE, "x": re.VERBOSE}


@lru_cache(maxsize=256)
def _regex(pattern: str, flags: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise FeelEvalError(f"regular expression longer than {MAX_PATTERN} characters")
    bits = 0
    for flag in flags:
        if flag == "q":
            pattern = re.escape(pattern)
        elif flag in _FLAGS:
            bits |= _FLAGS[flag]
        else:
            raise FeelEvalError(f"unknown regular expression flag {flag!r}")
    if _RISKY_REGEX.search(pattern):
        raise FeelEvalError(
            "regular expression too costly: a repeated group may not repeat or alternate inside"
        )
    try:
        return re.compile(pattern, bits)
    except re.error as exc:
        raise FeelEvalError(f"invalid regular expression {pattern!r}: {exc}") from None


def _regex_args(s: Any, pattern: Any, flags: Any) -> re.Pattern[str] | None:
    if not all_str(s, pattern) or not isinstance(flags, str | None):
        return None
    if len(s) > MAX_REGEX_INPUT:
        raise FeelEvalError(f"regular expression input longer than {MAX_REGEX_INPUT} characters")
    return _regex(pattern, flags or "")


@builtin("matches", 2, 3)
def _matches(s: Any, pattern: Any, flags: Any = None) -> bool | None:
    regex = _regex_args(s, pattern, flags)
    return None if regex is None else regex.search(s) is not None


@builtin("replace", 3, 4)
def _replace(s: Any, pattern: Any, replacement: Any, flags: Any = None) -> str | None:
    regex = _regex_args(s, pattern, flags)
    if regex is None or not isinstance(replacement, str):
        return None
    template = re.sub(r"\$(\d)", r"\\g<\1>", replacement.replace("\\", "\\\\"))
    try:
        return regex.sub(template, s)
    except (re.error, IndexError):
        raise FeelEvalError(f"invalid replacement {replacement!r}") from None


@builtin("split", 2)
def _split(s: Any, delimiter: Any) -> list[str] | None:
    regex = _regex_args(s, delimiter, None)
    return None if regex is None else regex.split(s)


@builtin("string join", 1, 2)
def _string_join(items: Any, delimiter: Any = "") -> str | None:
    if not is_list(items) or not isinstance(delimiter, str | None):
        return None
    parts = [item for item in items if item is not None]
    return (delimiter or "").join(parts) if all(isinstance(p, str) for p in parts) else None
