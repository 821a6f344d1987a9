"""A run's identity: everything that determines its result, by value or by content.

A finetune job resumes only from a checkpoint that carries the same identity; any other checkpoint
was made by a different run (a changed learning rate, new masks, edited engine code) and resuming
from it would report that run's result under this run's config. ``metrics.json`` records the
fingerprint, so two results can be told apart (or matched) by it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# The library modules whose code decides a finetune's result (not tracking, devices or reporting).
ENGINE_MODULES = ("finetune", "attention", "learned", "masks", "models", "vocabulary")
_CHUNK = 1 << 20


def file_digest(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes (None for no file)."""
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def engine_code_digest() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for module in ENGINE_MODULES:  # a module's file, or every file of a package (masks/)
        files = sorted((here / module).glob("*.py")) if (here / module).is_dir() else [here / f"{module}.py"]
        for path in files:
            digest.update(str(path.relative_to(here)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def flatten(values: dict, prefix: str = "") -> dict:
    """{"training": {"lr": 1}} -> {"training.lr": 1}: one entry per setting, so a difference can be named."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def fingerprint(identity: dict) -> str:
    canonical = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _short(value):
    """A SHA-256 digest cut to 12 hex digits for a log line; any other value as it is."""
    return value[:12] if isinstance(value, str) and len(value) == 64 else value


def differences(old: dict, new: dict) -> list[str]:
    """The settings that differ between two identities, e.g. ['training.learning_rate: 0.0001 -> 3e-05']."""
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, "<absent>"), new.get(key, "<absent>")
        if before != after:
            found.append(f"{key}: {_short(before)} -> {_short(after)}")
    return found
