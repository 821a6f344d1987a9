"""The data stages: a task's splits read, checked and subsampled (``prepare_data``, with the file
readers ``files`` and the checks ``checks``, which the workflow's plan also runs on whole files
before any job), tokenized once with the model's tokenizer (``tokens``) and parsed with spaCy
(``parse``). The package loads a room when one of its names is used (``breaking_bert.lazy``): the
scheduling process reads files and checks them with the standard library alone.
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "checks": ("DataError", "check_columns", "check_header", "check_labels", "check_texts", "class_counts",
               "label_key", "label_keys", "read_label_folders", "resolve_data_path", "sorted_labels",),
    "files": ("Table", "delimiter_of", "read_table", "sniff_format", "text_encoding",),
    "prepare_data": ("load_raw_splits", "prepare_task", "split_summary", "stratified_sample", "tidy_split", "write_task",),
    "tokens": ("tokenize_frame", "tokenize_to_parquet",),
    "parse": ("load_parser", "parse_frame", "parse_texts", "tree_hops", "word_hops_from_parse",),
})
