"""Packages that import nothing until a name is used (PEP 562): ``from breaking_bert.masks import
MaskSet`` loads ``masks/storage.py`` and what it imports, not the mask builders beside it, so the
split into modules holds at import time too (a rule's code inputs are the modules it runs,
code_inputs.py follows a lazy name to its module). Standard library only."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, homes: dict[str, tuple[str, ...]]):
    """(__getattr__, __all__) for a package whose names live in its modules: ``homes`` maps a
    module (relative, e.g. 'storage', or '..decision') to the names it exports."""
    where = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name] if where[name].startswith(".") else f".{where[name]}"
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)  # the next lookup is a plain attribute
        return value

    return __getattr__, sorted(where)
