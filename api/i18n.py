"""Form labels in the caller's language.

Form files carry their translations in ``x-labels``: one map per language, with ``title``,
one key per property and ``<property>.<enum value>`` for option labels. Adding a language is
adding a map; nothing in the code lists languages except the default.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["DEFAULT_LANGUAGE", "localize_form", "pick_language"]

DEFAULT_LANGUAGE = "zh-CN"


def pick_language(accept_language: str | None, available: tuple[str, ...] = ("zh-CN", "en")) -> str:
    """The best of ``available`` for an ``Accept-Language`` header (q-values honoured)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag:
            ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        if tag == "*":
            return DEFAULT_LANGUAGE
        wanted = tag.lower()
        for language in available:  # exact tag first, then the same primary language
            if language.lower() == wanted:
                return language
        for language in available:
            if language.lower().split("-")[0] == wanted.split("-")[0]:
                return language
    return DEFAULT_LANGUAGE


def localize_form(form: dict[str, Any], language: str) -> dict[str, Any]:
    """A copy of the form's JSON Schema with titles and option labels in ``language``."""
    result = copy.deepcopy(form)
    all_labels: dict[str, dict[str, str]] = result.pop("x-labels", {}) or {}
    labels = all_labels.get(language) or all_labels.get(DEFAULT_LANGUAGE) or {}
    if "title" in labels:
        result["title"] = labels["title"]
    for name, prop in (result.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if name in labels:
            prop["title"] = labels[name]
        if isinstance(prop.get("enum"), list):
            options = {str(v): labels.get(f"{name}.{v}", str(v)) for v in prop["enum"]}
            prop["x-enum-labels"] = options
    result["x-language"] = language
    result["x-languages"] = sorted(all_labels)
    return result
