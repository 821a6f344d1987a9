"""Tokenize a task once, so the masks and the finetune job see exactly the same wordpieces.

Per example: ``input_ids``, ``token_type_ids``, ``word_ids`` (-1 for special tokens; words are
numbered across both segments of a pair), ``segment_ids``, and per word its segment and the
character span it covers in that segment's text (to align it with spaCy's tokens).
Texts longer than ``max_length`` are truncated (longest-first for pairs); the count is reported.
A split is tokenized and written in chunks (``tokenize_to_parquet``), so a job's memory is bounded
by the chunk, not the split: whole, IMDB's 10,000 reviews took ~200 MB per MiB of text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def tokenize_frame(frame: pd.DataFrame, tokenizer, max_length: int) -> tuple[pd.DataFrame, dict]:
    pair = "text_b" in frame.columns
    texts_a = frame["text_a"].tolist()
    texts_b = frame["text_b"].tolist() if pair else None
    encoded = tokenizer(
        texts_a,
        texts_b,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )
    untruncated = tokenizer(texts_a, texts_b, truncation=False, add_special_tokens=True)["input_ids"]
    records = []
    for i in range(len(frame)):
        sequence_ids = encoded.sequence_ids(i)
        local_word_ids = encoded.word_ids(i)
        offsets = encoded["offset_mapping"][i]
        word_ids, word_starts, word_ends, word_segments = [], [], [], []
        global_of = {}
        for local, segment, (start, end) in zip(local_word_ids, sequence_ids, offsets):
            if local is None:
                word_ids.append(-1)
                continue
            key = (segment, local)
            if key not in global_of:
                global_of[key] = len(global_of)
                word_starts.append(start)
                word_ends.append(end)
                word_segments.append(segment)
            word = global_of[key]
            word_ends[word] = max(word_ends[word], end)
            word_ids.append(word)
        records.append(
            {
                "input_ids": np.asarray(encoded["input_ids"][i], dtype=np.int32),
                "token_type_ids": np.asarray(encoded["token_type_ids"][i], dtype=np.int8),
                "word_ids": np.asarray(word_ids, dtype=np.int32),
                "segment_ids": np.asarray([s if s is not None else -1 for s in sequence_ids], dtype=np.int8),
                "word_starts": np.asarray(word_starts, dtype=np.int32),
                "word_ends": np.asarray(word_ends, dtype=np.int32),
                "word_segments": np.asarray(word_segments, dtype=np.int8),
                "label": int(frame["label"].iloc[i]),
            }
        )
    lengths = np.array([len(r["input_ids"]) for r in records])
    truncated = int(sum(len(u) > max_length for u in untruncated))
    summary = {
        "examples": len(records),
        "truncated": truncated,
        "max_length": max_length,
        "length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "length_max": int(lengths.max()) if len(lengths) else 0,
    }
    return pd.DataFrame.from_records(records), summary


CHUNK_EXAMPLES = 1000


def tokenize_to_parquet(frame: pd.DataFrame, tokenizer, max_length: int, path, chunk: int = CHUNK_EXAMPLES) -> dict:
    """tokenize_frame over ``chunk`` examples at a time, each chunk appended to the parquet file at
    ``path`` as it is done; the split's summary. The file reads back as tokenize_frame's table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, parts = None, []
    try:
        for start in range(0, max(len(frame), 1), chunk):
            tokens, summary = tokenize_frame(frame.iloc[start:start + chunk], tokenizer, max_length)
            table = pa.Table.from_pandas(tokens, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
            parts.append(summary)
    finally:
        if writer is not None:
            writer.close()
    examples = sum(part["examples"] for part in parts)
    return {
        "examples": examples,
        "truncated": sum(part["truncated"] for part in parts),
        "max_length": max_length,
        "length_mean": sum(part["length_mean"] * part["examples"] for part in parts) / examples if examples else 0.0,
        "length_max": max(part["length_max"] for part in parts),
    }
