"""Bit-packed mask sets: one split's masks, ceil(n^2 / 8) bytes per example."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def sparsity(mask: np.ndarray) -> float:
    """1 - allowed pairs / n^2 for one example's (n, n) mask."""
    n = mask.shape[0]
    return 1.0 - float(mask.sum()) / float(n * n) if n else 0.0


@dataclass
class MaskSet:
    """Bit-packed masks of a dataset split: example e is ``bits[offsets[e]:offsets[e+1]]``.

    Each (n, n) mask costs ceil(n^2 / 8) bytes instead of 4 n^2 for a float tensor.
    """

    lengths: np.ndarray  # (E,) int32, n per example
    offsets: np.ndarray  # (E + 1,) int64 byte offsets into bits
    bits: np.ndarray  # (total,) uint8
    degrees: np.ndarray  # (E,) int32, the solved or given degree per example
    sparsities: np.ndarray  # (E,) float64, achieved sparsity per example
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_masks(cls, masks: Iterable[np.ndarray], degrees: Sequence[int] | None = None, meta=None):
        """Pack masks one at a time as they come (a generator never holds a split's masks
        unpacked: at 256 wordpieces those are 64 KB each against 8 KB packed)."""
        packed, lengths, sparsities = [], [], []
        for mask in masks:
            mask = np.asarray(mask, dtype=bool)
            packed.append(np.packbits(mask.ravel()))
            lengths.append(mask.shape[0])
            sparsities.append(sparsity(mask))
        offsets = np.zeros(len(packed) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(p) for p in packed])
        return cls(
            lengths=np.array(lengths, dtype=np.int32),
            offsets=offsets,
            bits=np.concatenate(packed) if packed else np.zeros(0, np.uint8),
            degrees=np.asarray(degrees if degrees is not None else [-1] * len(packed), dtype=np.int32),
            sparsities=np.array(sparsities, dtype=np.float64),
            meta=dict(meta or {}),
        )

    def __len__(self) -> int:
        return len(self.lengths)

    def mask(self, index: int) -> np.ndarray:
        n = int(self.lengths[index])
        chunk = self.bits[self.offsets[index] : self.offsets[index + 1]]
        return np.unpackbits(chunk, count=n * n).astype(bool).reshape(n, n)

    def padded_batch(self, indices: Sequence[int], length: int) -> np.ndarray:
        """(B, length, length) bool; rows and columns past each example's n are False."""
        batch = np.zeros((len(indices), length, length), dtype=bool)
        for row, index in enumerate(indices):
            n = int(self.lengths[index])
            batch[row, :n, :n] = self.mask(index)
        return batch

    @property
    def bytes_per_example(self) -> float:
        return float(self.bits.nbytes + self.offsets.nbytes + self.lengths.nbytes) / max(len(self), 1)

    def summary(self) -> dict:
        s = self.sparsities
        return {
            "examples": len(self),
            "sparsity_mean": float(s.mean()) if len(s) else float("nan"),
            "sparsity_std": float(s.std(ddof=1)) if len(s) > 1 else 0.0,
            "sparsity_min": float(s.min()) if len(s) else float("nan"),
            "sparsity_max": float(s.max()) if len(s) else float("nan"),
            "degree_mean": float(self.degrees.mean()) if len(s) else float("nan"),
            "bytes_per_example": self.bytes_per_example,
            "dense_float32_bytes_per_example": float(4 * (self.lengths.astype(np.int64) ** 2).mean())
            if len(s)
            else 0.0,
        }

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            lengths=self.lengths,
            offsets=self.offsets,
            bits=self.bits,
            degrees=self.degrees,
            sparsities=self.sparsities,
            meta=np.frombuffer(json.dumps(self.meta).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: str | Path) -> "MaskSet":
        with np.load(path, allow_pickle=False) as data:
            return cls(
                lengths=data["lengths"],
                offsets=data["offsets"],
                bits=data["bits"],
                degrees=data["degrees"],
                sparsities=data["sparsities"],
                meta=json.loads(data["meta"].tobytes().decode() or "{}"),
            )
