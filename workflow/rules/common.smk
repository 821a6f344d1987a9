# Helpers the rules share, one file per concern (each under ~200 lines), in the order they build
# on each other.


include: "common/library.smk"
include: "common/setup.smk"
include: "common/params.smk"
include: "common/design.smk"
include: "common/plan.smk"
include: "common/inputs.smk"
