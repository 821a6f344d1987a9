"""A split's tokens and masks in memory, length-grouped batches, and their collation into model
inputs (in the backend's mask format)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..attention import Backend, SparseAttention
from ..masks import MaskSet


@dataclass
class SplitData:
    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray]
    labels: np.ndarray
    masks: MaskSet | None
    separators: list[np.ndarray]  # [SEP] positions (special tokens after [CLS]): learned windows skip them

    @classmethod
    def load(cls, tokens_path, masks_path=None) -> "SplitData":
        frame = pd.read_parquet(tokens_path, columns=["input_ids", "token_type_ids", "word_ids", "label"])
        masks = MaskSet.load(masks_path) if masks_path else None
        data = cls(
            input_ids=[np.asarray(x, dtype=np.int64) for x in frame["input_ids"]],
            token_type_ids=[np.asarray(x, dtype=np.int64) for x in frame["token_type_ids"]],
            labels=frame["label"].to_numpy(dtype=np.int64),
            masks=masks,
            separators=[np.flatnonzero(np.asarray(w)[1:] < 0) + 1 for w in frame["word_ids"]],
        )
        if masks is not None:
            lengths = np.array([len(x) for x in data.input_ids])
            if len(masks) != len(lengths) or not np.array_equal(masks.lengths, lengths):
                raise ValueError(f"masks {masks_path} do not match the tokens {tokens_path}; rebuild the masks")
        return data

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.input_ids])


def length_grouped_batches(lengths: np.ndarray, batch_size: int, megabatch: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches whose members have similar lengths (less padding), seeded per epoch."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    size = batch_size * megabatch
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return batches


def collate(data: SplitData, indices, pad_id: int, backend: Backend, layers: frozenset, device, dtype):
    """A batch's model inputs (padded, with the fixed mask at ``layers`` in the backend's format)
    and labels; the regulariser adds what it needs (regularisers.py)."""
    length = max(len(data.input_ids[i]) for i in indices)
    batch = len(indices)
    input_ids = np.full((batch, length), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((batch, length), dtype=np.int64)
    padding = np.zeros((batch, length), dtype=np.int64)
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        input_ids[row, :n] = data.input_ids[i]
        token_type_ids[row, :n] = data.token_type_ids[i]
        padding[row, :n] = 1
    inputs = {
        "input_ids": torch.from_numpy(input_ids).to(device),
        "token_type_ids": torch.from_numpy(token_type_ids).to(device),
        "attention_mask": torch.from_numpy(padding).to(device),
    }
    if data.masks is not None and layers:
        allowed = torch.from_numpy(data.masks.padded_batch(indices, length)).to(device)
        inputs["sparse_attention"] = SparseAttention(
            backend.to_mask(allowed, inputs["attention_mask"], dtype), layers
        )
    labels = torch.from_numpy(data.labels[np.asarray(indices)]).to(device)
    return inputs, labels


def separator_positions(data: SplitData, indices, length: int) -> np.ndarray:
    """(B, length) bool: the [SEP] positions of a batch's examples."""
    separators = np.zeros((len(indices), length), dtype=bool)
    for row, i in enumerate(indices):
        separators[row, data.separators[i]] = True
    return separators
