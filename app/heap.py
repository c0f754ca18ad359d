"""The long-lived part of a process's heap kept out of the cyclic garbage collector's reach."""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect, then freeze what the process holds now (modules, routes, models, loaded schemas and keys): each
    full collection would otherwise walk all of it again while nothing of it ever becomes garbage. Call it once
    the process has loaded what it lives on; objects made later are collected as usual."""
    gc.collect()
    gc.freeze()
