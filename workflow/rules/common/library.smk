"""This workflow's own library (src/breaking_bert), found from this file's place in the workflow:
on every job's PYTHONPATH, and the experiment's vocabulary, code inputs and results layout imported
from it for the rules."""

import importlib.util
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError


def workflow_root():
    """This workflow's own folder, from this file's place in it (workflow/rules/common/), not the
    main Snakefile's (workflow.basedir): included as a module, the main Snakefile is the user's.
    Its jobs import the library under src/ from a folder, so the workflow must be a local copy.
    """
    here = workflow.current_basedir.get_path_or_uri(secret_free=True)
    if not Path(here).is_dir():
        raise WorkflowError(
            f"this workflow is included from {here}, not from a folder; its jobs import its library "
            "(src/) from the folder it is in: point the module's snakefile at the Snakefile of a local "
            "clone (a path, not github(...) or a git URL; README, 'As a Snakemake module')"
        )
    return Path(here).resolve().parents[2]


WORKFLOW_ROOT = workflow_root()
LIBRARY = WORKFLOW_ROOT / "src" / "breaking_bert"

# Every job imports this checkout's library, whatever environment runs it: a virtualenv whose
# editable install points at another clone, or a rule's conda env (which installs dependencies
# only). Jobs inherit the variable: local ones from this process, cluster ones parse this file too.
# (Set, not read: the envvars directive, which the linter asks for, asserts a variable the user
# must supply.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(LIBRARY.parent), os.getenv("PYTHONPATH")])
    )
)


def load_vocabulary():
    """The experiment's terms (pattern kinds, placements, draws, names): the library's own module,
    imported from this checkout. It and the package's __init__ and kinds need the standard library
    only, so the scheduling process needs none of the library's dependencies (under --sdm conda
    they live in the rules' envs).
    """
    spec = importlib.util.spec_from_file_location(
        "breaking_bert",
        LIBRARY / "__init__.py",
        submodule_search_locations=[str(LIBRARY)],
    )
    package = importlib.util.module_from_spec(spec)
    # this checkout's, whatever copy is installed
    sys.modules["breaking_bert"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("breaking_bert.vocabulary")


vocabulary = load_vocabulary()
# what each rule's script runs (params.smk's code_of), from the same checkout, cached per script
code_inputs = importlib.import_module("breaking_bert.code_inputs")
# this config's own summaries (tables, figures, looks, findings, kernel timing, with their logs):
# results/<results name>/, so that another config run here keeps its own (breaking_bert.layout);
# the data, masks and runs stay shared under results/ by their names
layout = importlib.import_module("breaking_bert.layout")
RESULTS_NAME = layout.results_name(config, workflow.configfiles)
SUMMARIES = layout.summaries_folder(config, workflow.configfiles)


def summary_path(path):
    """``path`` inside this config's summaries folder (SUMMARIES)."""
    return f"{SUMMARIES}/{path}"


SCRIPTS = WORKFLOW_ROOT / "workflow" / "scripts"
