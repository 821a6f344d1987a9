"""Where a config's outputs live. The data, tokens, parses, masks and finetune runs are shared by
every config in a folder: each is kept under ``results/`` by its names (task, pattern, draw,
placement, seed), so two configs that name the same run with the same settings share its files;
where they give it different settings (epochs, eval examples, max_length, a pattern's degrees), the
one run last trains it again over the other's (Snakemake's params trigger), so such configs belong
in folders of their own. A config's summaries (its tables, figures, looks, findings report and
kernel timing, with their logs and benchmark files) are its alone: they live under
``results/<results name>/``, so a second config run in the same folder never replaces them.

Standard library only: the workflow's scheduling process imports it (workflow/rules/common/library.smk),
and the results-page tool (findings.page) finds a run's summaries with it.
"""

from __future__ import annotations

import re
from pathlib import Path

# the schema's pattern for results_name (tests/test_config.py holds them equal), applied here to a
# name derived from the config files' names too, which the schema never sees
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# the shared stages' folders under results/: a config's summaries never go inside one
SHARED = {"data", "tokens", "parses", "masks", "runs", "learned", "cost", "logs", "benchmarks", "mlflow"}


def results_name(config: dict, configfiles) -> str:
    """The config's ``results_name``, else the names of the config files that make it, in the order
    Snakemake read them, joined by '+' (``config/embedded.yaml`` then ``config/overlays/rehearsal.yaml``:
    'embedded+rehearsal'); the Snakefile's default config is 'config', and an overlay given alone
    goes over it ('sequential+config')."""
    given = config.get("results_name")
    name = given or "+".join(Path(path).stem for path in configfiles) or "config"
    if not NAME.match(str(name)) or name in SHARED:
        source = "" if given else " (from the config files' names)"
        raise ValueError(f"results_name: {name!r}{source} is not a folder name of letters, digits and _.+-, "
                         f"or is one of the shared folders ({', '.join(sorted(SHARED))}); set results_name in the config to one")
    return name


def summaries_folder(config: dict, configfiles, results: str | Path = "results") -> str:
    """``results/<results name>``: the folder of the config's own summaries."""
    return f"{Path(results)}/{results_name(config, configfiles)}"
