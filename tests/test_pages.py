"""Results pages (findings/page.py): generated from a finished results folder, they say what the
findings report says and nothing more, with what ran and what it cost."""

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from breaking_bert.aggregate import summarize
from breaking_bert.findings.cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE
from breaking_bert.findings.evidence import evidence_report, findings_report
from breaking_bert.findings.page import refresh_pages, render_page, verdict_tables, write_page
from breaking_bert.stats.eval_sampling import COLUMNS as EVAL_SAMPLING_COLUMNS, prediction_columns
from runs_tables import _placements, _runs

REPO = Path(__file__).resolve().parent.parent
PAGES = REPO / "docs" / "results"
# the schema's defaults (tests/test_config.py holds the library's copies equal to them)
THRESHOLDS = {"negligible_drop": NEGLIGIBLE_DROP, "high_sparsity": HIGH_SPARSITY, "sparsity_tolerance": SPARSITY_TOLERANCE}


def _finished_folder(checkout: Path) -> Path:
    """A results folder as a finished run leaves it: the report, the runs table, benchmark files
    (40 s of CPU per finetune, 12 s elsewhere), a figure, the tracking store's commit tags and a
    Snakemake log."""
    results = checkout / "results"
    summaries = results / "run"  # config/run.yaml's own tables, figures and report (breaking_bert.layout)
    runs = _runs(_placements([0.80, 0.81, 0.815], [0.70, 0.71, 0.72]))
    (summaries / "tables").mkdir(parents=True)
    runs.to_csv(summaries / "tables" / "runs.csv", index=False)
    summarize(runs).to_csv(summaries / "tables" / "summary.csv", index=False)
    pd.DataFrame(columns=EVAL_SAMPLING_COLUMNS).to_csv(summaries / "tables" / "eval_sampling.csv", index=False)
    (summaries / "findings.md").write_text(findings_report(
        {"runs": summaries / "tables" / "runs.csv", "summary": summaries / "tables" / "summary.csv",
         "eval_sampling": summaries / "tables" / "eval_sampling.csv"},
        {"runs": pd.DataFrame(columns=prediction_columns("runs")), "learned_runs": None}, [0, 1, 2], THRESHOLDS))
    for index, row in enumerate(runs.itertuples()):
        run = results / "runs" / row.task / row.pattern / row.placement / f"seed{row.seed}"
        run.mkdir(parents=True)
        (run / "benchmark.tsv").write_text("s\tcpu_time\n41.0\t40.0\n")
        (run / "metrics.json").write_text(json.dumps({"fingerprint": f"run{index}"}))
    (results / "runs" / "t" / "other_config" / "all" / "seed0").mkdir(parents=True)  # not this config's: not counted
    (results / "runs" / "t" / "other_config" / "all" / "seed0" / "benchmark.tsv").write_text("s\tcpu_time\n1\t9999\n")
    (results / "benchmarks" / "masks").mkdir(parents=True)
    (results / "benchmarks" / "masks" / "t_neighbour_fixed.tsv").write_text("s\tcpu_time\n13\t12.0\n")
    (summaries / "figures").mkdir()
    (summaries / "figures" / "score.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (results / "mlflow").mkdir()
    with sqlite3.connect(results / "mlflow" / "mlflow.db") as db:
        db.execute("CREATE TABLE tags (key TEXT, value TEXT, run_uuid TEXT)")
        for run in [*map(str, range(len(runs))), "other"]:  # another config's run: not counted
            db.executemany("INSERT INTO tags VALUES (?, ?, ?)", [("git_commit", "a" * 40, run), ("git_dirty", "false", run),
                                                                  ("fingerprint", f"run{run}", run)])
    logs = checkout / ".snakemake" / "log"
    logs.mkdir(parents=True)

    def log(name, configs, body):
        given = ", ".join(f"PosixPath('{checkout}/config/{c}')" for c in configs)
        (logs / name).write_text(f"SNAKEMAKE\n  Command: snakemake --configfile {' '.join(configs)}\n"
                                 f"  Config file(s): [{given}]\n{body}")

    log("2026-12-03T160543.273213.snakemake.log", ["run.yaml"],
        "Job stats:\n[Thu Dec  3 16:05:44 2026]\n    benchmark: results/benchmarks/masks/t_neighbour_fixed.tsv\n"
        "[Thu Dec  3 16:47:43 2026]\nFinished\n")
    log("2026-12-03T170000.000001.snakemake.log", ["other.yaml"], "Job stats:\n[Thu Dec  3 17:30:00 2026]\n")
    log("2026-12-03T180000.000001.snakemake.log", ["run.yaml"], "Nothing to be done (all requested files are present)\n")
    (checkout / "config").mkdir()
    (checkout / "config" / "run.yaml").write_text("seeds: [0, 1, 2]\ntasks: {t: {}}\ncost: {enabled: false}\n")
    return results


def test_a_page_says_what_its_report_says_with_what_ran_and_what_it_cost(tmp_path):
    results = _finished_folder(tmp_path / "checkout")
    page = write_page("experiment9", results, [tmp_path / "checkout" / "config" / "run.yaml"], tmp_path / "pages")
    text = page.read_text()
    summary, in_report = verdict_tables(text)
    assert summary == in_report == verdict_tables((results / "run" / "findings.md").read_text())[0]
    assert summary[0][1] == "supported"
    assert "finetune 0.10 h, other stages 0.00 h; 0.10 h in all" in text, "9 runs x 40 s, not the other config's"
    assert f"`{'a' * 40}` (without uncommitted changes): 9 runs" in text
    assert f"git checkout {'a' * 12}\nsnakemake --cores 2 --configfile config/run.yaml" in text
    assert "seeds: [0, 1, 2]" in text and "Runs: 9 finetunes" in text and "1 Snakemake invocation(s)" in text
    # another config's invocation and one that ran nothing are not this config's time; the end is
    # the last job's time stamp, and the command is the log's
    assert "Wall time: 42 min over 1 Snakemake invocation(s)" in text
    assert "2026-12-03 16:05 (the machine's clock), 42 min: `snakemake --configfile run.yaml`" in text
    assert "other.yaml" not in text
    assert "the run's own report, by the code that ran it, gave the same verdicts." in text
    # the page's report is today's code's, made from the evidence beside it; the run's own report is
    # compared, and where it said otherwise the page names it
    evidence = tmp_path / "pages" / "experiment9" / "evidence"
    assert render_page("experiment9", evidence, "experiment9") == text
    assert "seeds: [0, 1, 2]" in (evidence / "page.json").read_text()
    report = results / "run" / "findings.md"
    report.write_text(report.read_text().replace("costs a lot | **supported** |", "costs a lot | **cannot tell** |"))
    text = write_page("experiment9", results, [tmp_path / "checkout" / "config" / "run.yaml"], tmp_path / "pages").read_text()
    assert ("gave other verdicts: 1. Late-layer sparsity >= 75% costs little; all-layer sparsity costs a lot: the "
            "run's report said cannot tell, today's code says supported.") in text
    assert verdict_tables(text)[0][0] == (verdict_tables(text)[0][0][0], "supported"), "the page's verdict is today's"
    # a hand edit of the evidence's numbers is a different run: refresh makes the page of what it now holds
    runs_csv = evidence / "runs.csv"
    edited = pd.read_csv(runs_csv)
    edited.loc[edited["placement"] == "all", "score"] -= 0.2
    edited.to_csv(runs_csv, index=False)
    assert refresh_pages(tmp_path / "pages") == [tmp_path / "pages" / "experiment9.md"]
    assert (tmp_path / "pages" / "experiment9.md").read_text() != text
    assert "- 1. Late-layer sparsity >= 75% costs little; all-layer sparsity costs a lot: **supported**: " in text
    assert "![score](experiment9/score.png)" in text and (tmp_path / "pages" / "experiment9" / "score.png").exists()
    assert "\n## Findings\n" in text and "\n### 1. Late-layer" in text, "the report's headings one level down"


def test_a_sequential_page_whose_rule_changed_is_rerun_not_refreshed():
    from breaking_bert.findings.page import same_sequential_rule

    ran = "x\nSequential design: looks at 3, 5 and 7 seeds, level 0.02 each\n"
    same_sequential_rule(ran, ran, "e")  # the same rule: nothing to say
    same_sequential_rule("fixed\n", "fixed, reworded\n", "e")  # a fixed design replays nothing
    with pytest.raises(ValueError, match="rerun the experiment"):
        same_sequential_rule(ran, ran.replace("0.02", "0.025"), "e")


def test_verdict_tables_read_each_table_of_a_page():
    text = "| finding | verdict |\n| --- | --- |\n| a | **supported** |\n| b | **cannot tell** |\n\nx\n| a | **partly** |\n"
    assert verdict_tables(text) == [[("a", "supported"), ("b", "cannot tell")], [("a", "partly")]]


COMMITTED_PAGES = sorted(p for p in PAGES.glob("*.md") if p.name != "README.md") if PAGES.exists() else []


def _rule_body(paragraph: str) -> str:
    """A rule paragraph less its opening '(module path):', which moves with the code, not the rule."""
    return paragraph.split("): ", 1)[1]


@pytest.mark.parametrize("page", COMMITTED_PAGES, ids=lambda p: p.name)
def test_every_committed_page_says_what_its_report_says_under_the_current_rule(page):
    """The summary at a page's top is its report's verdict table, word for word; every line that
    says what a verdict rests on, and every finding's section of the report, opens with that
    finding's verdict; the report's rule paragraphs are the current rule's (a page from a run under
    an older rule must be made again); and the rule of the code that wrote the page agreed. A hand
    edit of any of them shows."""
    import re

    from breaking_bert.stats.decision import RULE_TEXT
    from breaking_bert.stats.sequential import SEQUENTIAL_RULE_TEXT

    text = page.read_text()
    tables = verdict_tables(text)
    assert len(tables) == 2 and tables[0] == tables[1], f"{page.name}: summary and report disagree"
    summary = dict(tables[0])
    assert len(summary) >= 4, summary  # the paper's four, then this project's own
    rests_on = [(finding, verdict) for finding, verdict in re.findall(r"^- (.+?): \*\*([^*]+)\*\*: ", text, flags=re.MULTILINE)
                if finding in summary]
    sections = re.findall(r"^### (.+?)\n\n\*\*([^*]+)\*\*", text, flags=re.MULTILINE)
    assert rests_on, f"{page.name}: no line says what a verdict rests on"
    assert [finding for finding, _ in sections] == list(summary), f"{page.name}: a finding's section is missing"
    for finding, verdict in rests_on + sections:
        assert summary[finding] == verdict, f"{page.name}: {finding} is {summary[finding]} above, {verdict} below"
    assert {finding for finding, _ in rests_on} == {f for f, v in summary.items() if v != "not tested"}
    rules = [line for line in text.splitlines() if line.startswith("Decision rule (")]
    assert len(rules) == 1 and _rule_body(rules[0]) == _rule_body(RULE_TEXT), f"{page.name}: not the current rule"
    sequential = [line for line in text.splitlines() if line.startswith("Sequential design: ")]
    # a report with the looks' 'decided' column is a sequential design's, and must say its design
    assert bool(sequential) == ("| decided |" in text), f"{page.name}: a sequential design's page without its design"
    if sequential:
        template = re.escape(SEQUENTIAL_RULE_TEXT).replace(re.escape("{design}"), "Sequential design: .+?")
        assert re.fullmatch(template, sequential[0]), f"{page.name}: not the current sequential design's text"


@pytest.mark.parametrize("page", COMMITTED_PAGES, ids=lambda p: p.name)
def test_every_committed_page_is_what_todays_code_makes_of_its_evidence(page):
    """A page is a function of the evidence committed beside it (the findings rule's inputs and what
    ran): made again by today's code it is the same, word for word. A verdict edited by hand, in the
    summary, the sections and the rests-on lines alike, or a change to the rule or the report's
    words without `./run.sh page refresh`, fails here."""
    evidence = page.parent / page.stem / "evidence"
    assert evidence.is_dir(), f"{page.name}: no evidence beside it ({evidence})"
    assert render_page(page.stem, evidence, page.stem) == page.read_text(), (
        f"{page.name} is not what today's code makes of its evidence: `./run.sh page refresh`, then read the diff")
    assert verdict_tables(evidence_report(evidence))[0] == verdict_tables(page.read_text())[0]


@pytest.mark.parametrize("page", COMMITTED_PAGES, ids=lambda p: p.name)
def test_every_committed_pages_evidence_holds_together(page, tmp_path):
    """The evidence is trusted (git history audits it), but its parts must agree: the parameters are
    those its config files give, the summary is its runs' summary, and every run's score is its
    metric on the predictions and labels kept for it. An edit of one part alone shows."""
    import numpy as np

    from breaking_bert.aggregate import read_runs_table
    from breaking_bert.findings.evidence import findings_tables, read_evidence, run_config
    from breaking_bert.scoring import classification_metrics

    evidence = page.parent / page.stem / "evidence"
    facts = json.loads((evidence / "page.json").read_text())
    configs = []
    for index, config in enumerate(facts["configs"]):
        configs.append(tmp_path / f"{index}.yaml")
        configs[-1].write_text(config["text"])
    tables, predictions, params = read_evidence(evidence)
    config = run_config(configs, REPO)
    assert set(tables) == set(findings_tables(config)), "tables the findings rule does not read for this config"
    # what the configs set (a default changed since leaves the run's value standing)
    given = run_config(configs, REPO, defaults=False)
    assert params["seeds"] == given.get("seeds", params["seeds"]), "params.json's seeds are not its configs'"
    assert all(params["thresholds"][key] == value for key, value in (given.get("findings") or {}).items())
    runs = read_runs_table(tables["runs"])
    summary, again = read_runs_table(tables["summary"]), summarize(runs)
    keys = ["task", "pattern", "placement"]
    assert summary[keys].astype(str).values.tolist() == again[keys].astype(str).values.tolist()
    numbers = [c for c in again.columns if c in summary and pd.api.types.is_numeric_dtype(again[c])]
    assert {"score_mean", "delta_vs_dense", "effective_sparsity_mean"} <= set(numbers)
    assert np.allclose(summary[numbers].to_numpy(float), again[numbers].to_numpy(float), equal_nan=True)
    for table, frame in predictions.items():
        scores = read_runs_table(tables[table]) if table in tables else None
        for run in frame[frame["eval_predictions"].notna()].itertuples(index=False):
            labels, predicted = np.asarray(run.eval_labels), np.asarray(run.eval_predictions)
            metric = classification_metrics(predicted, labels, int(max(labels.max(), predicted.max())) + 1)[run.metric]
            key = {c: getattr(run, c) for c in frame.columns if c not in ("metric", "eval_predictions", "eval_labels")}
            row = scores.loc[np.logical_and.reduce([scores[c].astype(str) == str(v) for c, v in key.items()])]
            assert len(row) == 1 and np.isclose(row["score"].iloc[0], metric), (page.name, key)


def test_a_page_draws_its_runs_figures_anew_and_leaves_out_what_the_code_no_longer_draws(tmp_path):
    """page_figures.redraw: the score figure drawn from the run's summary by today's code, the mask
    gallery (it reads masks, not a table) copied, and the bar chart of a BigBird-only run (its
    dense line alone, as older code drew it) left out and named on the page."""
    import pandas as pd

    from breaking_bert.findings.page_figures import figures_section, redraw

    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    (results / "tables").mkdir()
    rows = [("dense", "dense", "none", "", 0.0, 0.80, 0.01), ("bb_g1_w1_r1", "bigbird", "all", "g=1 w=1 r=1", 0.75, 0.76, 0.004)]
    summary = pd.DataFrame(rows, columns=["pattern", "kind", "placement", "degrees", "sparsity_mean", "score_mean", "score_std"])
    summary.assign(task="rt", metric="accuracy", seeds=3, effective_sparsity_mean=summary["sparsity_mean"]).to_csv(
        results / "tables/summary.csv", index=False)
    for name in ("score_by_pattern_and_placement", "score_vs_sparsity", "masks_rt"):
        (results / "figures" / f"{name}.png").write_bytes(b"the run's own " + name.encode())
    pages = tmp_path / "pages" / "e"
    pages.mkdir(parents=True)
    done = redraw(results, pages)
    assert done == {"masks_rt": "copied", "score_by_pattern_and_placement": "left out", "score_vs_sparsity": "drawn"}
    assert (pages / "masks_rt.png").read_bytes() == b"the run's own masks_rt"
    assert (pages / "score_vs_sparsity.png").read_bytes()[:4] == b"\x89PNG" and not (pages / "score_by_pattern_and_placement.png").exists()
    text = "\n".join(figures_section(done, "e", "abc123"))
    assert "![score_vs_sparsity](e/score_vs_sparsity.png)" in text and "![masks_rt](e/masks_rt.png)" in text
    assert "Drawn from this run's tables by the code of commit abc123" in text and "score_by_pattern_and_placement (" in text


def test_cpu_hours_count_the_shared_stages_and_this_configs_summaries_never_anothers(tmp_path):
    """With no Snakemake log to name the jobs, the other stages' hours are the shared stages' and
    this config's own summary jobs', not those of another config run in the same folder."""
    from breaking_bert.findings.run_facts import cpu_hours

    results = tmp_path / "results"
    for folder, seconds in (("benchmarks/tokens", 3600), ("mine/benchmarks", 7200), ("theirs/benchmarks", 36000)):
        (results / folder).mkdir(parents=True)
        (results / folder / "job.tsv").write_text(f"s\tcpu_time\n1\t{seconds}\n")
    assert cpu_hours(results, {}, None, results / "mine")["other stages"] == 3.0
    named = {"results/theirs/benchmarks/job.tsv", "results/mine/benchmarks/job.tsv"}
    assert cpu_hours(results, {}, named, results / "mine")["other stages"] == 2.0, "the log's jobs, in those folders"
