"""Where a config's outputs live. The data, tokens, parses, masks and finetune runs are shared by
every config in a folder: each is kept under ``results/`` by what it is (task, pattern, draw, the
run's identity), so two configs that share a run share its files. A config's summaries (its tables,
figures, looks, findings report and kernel timing, with their logs and benchmark files) are its
alone: they live under ``results/<results name>/``, so a second config run in the same folder never
replaces them or stands in for them.

Standard library only: the workflow's scheduling process imports it (workflow/rules/common/setup.smk),
and the results-page tool (findings.page) finds a run's summaries with it.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def results_name(config: dict, configfiles) -> str:
    """The config's ``results_name``, else the names of the config files that make it, in the order
    given, joined by '+' (``config/embedded.yaml`` then ``config/overlays/rehearsal.yaml``:
    'embedded+rehearsal'); the Snakefile's default config is 'config'."""
    given = config.get("results_name")
    name = given or "+".join(Path(path).stem for path in configfiles) or "config"
    if not NAME.match(str(name)):
        source = "" if given else " (from the config files' names)"
        raise ValueError(f"results_name: {name!r}{source} is not a folder name of letters, digits and _.+-; "
                         "set results_name in the config to one")
    return name


def summaries_folder(config: dict, configfiles, results: str | Path = "results") -> str:
    """``results/<results name>``: the folder of the config's own summaries."""
    return f"{Path(results)}/{results_name(config, configfiles)}"
