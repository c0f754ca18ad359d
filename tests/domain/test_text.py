"""Name normalisation for trait search (RNIV rule 17)."""

from __future__ import annotations

from app.domain.text import compact, fold, name_keys, sort_key, tokens


def test_fold_removes_case_and_diacritics() -> None:
    assert fold("Hélène ÇÀÏÔŒ") == "helene caiooe"


def test_tokens_drop_apostrophes_and_split_on_hyphens() -> None:
    assert tokens("D'ARGENT-LÉVÊQUE") == ["dargent", "leveque"]
    assert tokens("  Marie-Thérèse  ") == ["marie", "therese"]
    assert tokens("N’DIAYE") == ["ndiaye"]
    assert compact("D'ARGENT-LÉVÊQUE") == "dargentleveque"


def test_name_keys_include_the_compact_form() -> None:
    assert name_keys("LE GOFF") == {"le", "goff", "legoff"}
    assert name_keys("MARTIN") == {"martin"}


def test_sort_key_orders_without_accents() -> None:
    names = ["ZOLA", "Émery", "abadie", "Le Goff"]
    assert sorted(names, key=sort_key) == ["abadie", "Émery", "Le Goff", "ZOLA"]
