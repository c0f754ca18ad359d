"""Normalisation of names for identity search (RNIV rule 17)."""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['’‘`´]")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def fold(value: str) -> str:
    """Lower case without diacritics; ligatures expanded (Œ -> oe, Æ -> ae, ß -> ss)."""
    value = value.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(value: str) -> list[str]:
    """Search tokens of a name: apostrophes dropped (D'ARGENT -> dargent), hyphens and spaces split."""
    folded = _APOSTROPHES.sub("", fold(value))
    return [t for t in _SEPARATORS.split(folded) if t]


def compact(value: str) -> str:
    """The name with every separator removed (D'ARGENT-LÉVÊQUE -> dargentleveque)."""
    return "".join(tokens(value))


def name_keys(value: str) -> set[str]:
    """Every key under which a name can be found: its tokens and its compact form."""
    parts = tokens(value)
    keys = set(parts)
    if len(parts) > 1:
        keys.add("".join(parts))
    return keys


def sort_key(value: str) -> str:
    """A collation-free sort key (accents and case ignored)."""
    return " ".join(tokens(value))
