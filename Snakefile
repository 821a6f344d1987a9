# Breaking BERT: which attention connections can a finetuned BERT lose, and where?
# The table of contents: one rule file per stage, holding that stage's rules (cost.smk: the counts, its
# table, kernel timing and their figures), each rule a thin script over the library (src/breaking_bert).
from snakemake.utils import min_version

min_version("9.0")


# The paper-scale default, unless a config was given (--configfile): that one then stands alone,
# as with --replace-workflow-config (a deep merge would mix the default's tasks and experiments
# in). `--config key=value` alone still overrides the default's keys.
if "tasks" not in config:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare_data.smk"
include: "workflow/rules/tokens.smk"
include: "workflow/rules/parse.smk"
include: "workflow/rules/masks.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/looks.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/learned.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/findings.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
        get_tracked_summaries(),


onsuccess:
    # where this config's summaries are, whatever config files named the folder
    print(summaries_message())
