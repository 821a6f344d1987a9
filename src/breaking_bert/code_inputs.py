"""The library files each rule's script runs: its code inputs, derived from the imports.

Snakemake reruns a rule when a declared input changes, not when code its script imports does, so
every library file a script runs is declared as an input of its rule (``code_inputs``), found by
reading the imports: the script's, then each imported library file's, transitively (imports inside
functions too: a job runs them; a lazy package's name is followed to the module it comes from).
Nothing is listed by hand but the files a script imports and never runs (``NOT_RUN``), so that
editing them reruns nothing for nothing. Standard library only: the workflow's scheduling process
imports it (workflow/rules/common/setup.smk) without the library's dependencies.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent

# Imported by a rule's script (a package's __init__ pulls its siblings in) but never run by its
# jobs. Keyed by script.
MASK_BUILDING = frozenset({"kinds.py", "data/parse.py", "masks/inputs.py", "masks/patterns.py", "masks/solving.py",
                           "masks/policy.py"})  # the masks stage's
LEARNED = frozenset({"learned/__init__.py", "learned/objectives.py", "learned/windows.py"})  # learn_degrees jobs'
EFFECTIVE = frozenset({"masks/effective.py"})  # finetune and learn_degrees jobs measure effective sparsity
NOT_RUN = {
    "finetune.py": MASK_BUILDING | LEARNED,  # a fixed run loads mask files (masks/storage)
    "learned.py": MASK_BUILDING - {"masks/policy.py"},  # the windows follow the special-token policy
    # draws the stored masks (masks/storage): the lazy package loads nothing else
    "figure_mask_gallery.py": frozenset({"kinds.py"}),
    # loads stored masks; its synthetic masks and block masks run in kernel_timing
    "cost.py": MASK_BUILDING | EFFECTIVE | {"attention.py"},
    "kernel_timing.py": frozenset({"data/parse.py"}),  # synthetic masks need no parse
}
# Where a training job's result is logged (MLflow), not what it is: editing the tracking code
# retrains nothing (the store is an ancient() input for the same reason, workflow/rules/common/inputs.smk);
# the jobs whose one task is tracking (init_tracking, track_summaries) rerun for it.
WHERE_LOGGED = frozenset(f"tracking/{path.name}" for path in (LIBRARY / "tracking").glob("*.py"))
LOGGING_ONLY = {"finetune.py": WHERE_LOGGED, "learned.py": WHERE_LOGGED}
# Run by every script, but they decide where messages go (the log, and the console for a fatal
# error) and when a package loads a module, not what a job computes: editing them reruns nothing.
MESSAGES_ONLY = frozenset({"joblog.py", "lazy.py"})


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _module_files(dotted: str, library: Path) -> list[Path]:
    """The files importing ``breaking_bert.x.y`` runs: each package's __init__ on the way and the
    module (or the package's __init__)."""
    parts = dotted.split(".")[1:]
    files = [library / Path(*parts[:i]) / "__init__.py" for i in range(1, len(parts))]
    target = library / Path(*parts) if parts else library
    files.append(target / "__init__.py" if target.is_dir() else target.with_suffix(".py"))
    return [f for f in files if f.exists()]


def _absolute(relative: str, level: int, package: str) -> str:
    return ".".join(package.split(".")[: len(package.split(".")) - level + 1] + ([relative] if relative else []))


def _lazy_homes(dotted: str, library: Path) -> dict[str, str]:
    """name -> module, for a package whose __init__ exports lazily (lazy.lazy_exports)."""
    init = library / Path(*dotted.split(".")[1:]) / "__init__.py"
    if not init.exists():
        return {}
    for node in ast.walk(_tree(init)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            homes = ast.literal_eval(node.args[1])
            return {name: _absolute(module.lstrip("."), len(module) - len(module.lstrip(".")) or 1, dotted)
                    for module, names in homes.items() for name in names}
    return {}


def library_imports(path: Path, library: Path = LIBRARY, seen: set | None = None) -> set[Path]:
    """The library's files that importing ``path`` runs, followed transitively."""
    seen = set() if seen is None else seen
    package = ".".join(("breaking_bert", *path.parent.relative_to(library).parts)) if path.is_relative_to(library) else ""
    found = set()
    for node in ast.walk(_tree(path)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package) if node.level else node.module or ""
            homes = _lazy_homes(base, library) if base.startswith("breaking_bert") else {}
            # a name may be a submodule, or one a lazy package loads from its module
            names = [base] + [homes.get(alias.name, f"{base}.{alias.name}") for alias in node.names]
        for name in names:
            if name == "breaking_bert" or name.startswith("breaking_bert."):
                found.update(_module_files(name, library))
    for file in found - seen:
        seen.add(file)
        found |= library_imports(file, library, seen)
    return found


def only_imports(path: Path) -> bool:
    """A package's __init__ that only re-exports (docstring, imports, __all__, __version__, a lazy
    __getattr__): importing it computes nothing."""
    for node in _tree(path).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue
        targets = [e for t in getattr(node, "targets", []) for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        if isinstance(node, ast.Assign) and all(getattr(t, "id", "") in ("__all__", "__version__", "__getattr__")
                                                for t in targets):
            continue
        return False
    return True


@functools.cache
def code_inputs(script: Path, library: Path = LIBRARY) -> tuple[str, ...]:
    """The library files ``script`` runs, sorted: what it imports, transitively, less what it never
    runs (NOT_RUN), where it logs (LOGGING_ONLY), the message plumbing (MESSAGES_ONLY) and packages'
    re-export-only __init__s. Cached: every job of a rule asks."""
    skipped = NOT_RUN.get(script.name, frozenset()) | LOGGING_ONLY.get(script.name, frozenset()) | MESSAGES_ONLY
    left_out = {library / name for name in skipped}
    files = {f for f in library_imports(script, library) - left_out if not (f.name == "__init__.py" and only_imports(f))}
    if library / "kinds.py" in files:  # a user's own kinds (kinds.ENTRY_POINT_GROUP) run where the registry does
        files |= plugin_files()
    return tuple(sorted(str(f) for f in files))


def plugin_files() -> set[Path]:
    """The files of the modules that register a user's own pattern kinds by entry point."""
    import importlib.util

    from .kinds import plugin_modules

    specs = [importlib.util.find_spec(module) for module in plugin_modules().values()]
    return {Path(spec.origin).resolve() for spec in specs if spec is not None and spec.origin}
