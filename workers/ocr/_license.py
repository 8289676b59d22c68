"""Unified social credit codes (GB 32100-2015).

Eighteen characters from a 31-character alphabet (digits and capitals without I, O, Z, S,
V): registration authority, organisation type, 6-digit region, 9-character organisation
code, and a check character making the weighted sum ``≡ 0 (mod 31)``. OCR confuses ``O``
with ``0`` and ``I`` with ``1``; since those letters are not in the alphabet,
:func:`normalize_uscc` maps them back before checking.
"""

from __future__ import annotations

__all__ = ["USCC_CHARSET", "normalize_uscc", "uscc_check_char", "uscc_ok"]

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"})


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 characters; ValueError outside the alphabet."""
    if len(first17) != 17 or any(c not in USCC_CHARSET for c in first17):
        raise ValueError("a credit code body is 17 characters of the GB 32100 alphabet")
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def normalize_uscc(text: str) -> str:
    """Upper case, no spaces, letters outside the alphabet mapped to their look-alike digit."""
    return "".join(text.split()).upper().translate(_CONFUSABLE)


def uscc_ok(code: str) -> bool:
    """Whether an 18-character code's last character is its check character; never raises."""
    if len(code) != 18 or any(c not in USCC_CHARSET for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]
