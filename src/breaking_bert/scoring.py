"""Classification metrics, without torch: the finetune loop scores its evaluations with them, and
the report rules (whose env has no torch) resample eval sets with them (eval_sampling.py)."""

from __future__ import annotations

import math

import numpy as np


def classification_metrics(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> dict:
    """Accuracy, F1 (binary: of class 1; else macro) and Matthews correlation (multi-class form)."""
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return metrics_from_confusion(confusion)


def metrics_from_confusion(confusion: np.ndarray) -> dict:
    """The metrics of a (labels x predictions) confusion matrix of counts."""
    total = confusion.sum()
    accuracy = float(np.trace(confusion) / total) if total else float("nan")
    tp = np.diag(confusion).astype(float)
    precision = np.divide(tp, confusion.sum(axis=0), out=np.zeros_like(tp), where=confusion.sum(axis=0) > 0)
    recall = np.divide(tp, confusion.sum(axis=1), out=np.zeros_like(tp), where=confusion.sum(axis=1) > 0)
    f1_per_class = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0
    )
    f1 = float(f1_per_class[1]) if len(confusion) == 2 else float(f1_per_class.mean())
    t_k, p_k = confusion.sum(axis=1).astype(float), confusion.sum(axis=0).astype(float)
    c, s = float(np.trace(confusion)), float(total)
    denominator = math.sqrt(max(s * s - p_k @ p_k, 0.0) * max(s * s - t_k @ t_k, 0.0))
    matthews = float((c * s - t_k @ p_k) / denominator) if denominator > 0 else 0.0
    return {"accuracy": accuracy, "f1": f1, "matthews": matthews}
