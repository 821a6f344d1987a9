#!/usr/bin/env bash
# One entry point for a fresh machine (Debian, Python 3.11, no GPU needed):
#   ./run.sh demo    create/reuse .venv, install pinned dependencies, run the embedded demo
#   ./run.sh test    the same set-up, then the test suite
#   ./run.sh bench   the same set-up, then the benchmarks (docs/BENCHMARKS.md)
#   ./run.sh calibrate [draws] [--processes=N] [--cases=a,b2,...] [--designs=fixed,sequential] [--power=no]
#                    [--findings=1,2] [--cells=N]
#                    | aa RUNS.csv | aso RUNS.csv
#                    the decision rule's calibration (docs/EXPERIMENTS.md)
#   ./run.sh page NAME RESULTS_FOLDER CONFIG...   an experiment's results page, docs/results/NAME.md,
#                    generated from its finished results folder, with its evidence (docs/results/README.md)
#   ./run.sh page refresh   every page made again from its committed evidence by today's code
#   ./run.sh memory [CHECKOUT] [--slurm]  each rule's declared mem_mb and runtime against its jobs' peak memory and wall time
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv

setup() {
    local stamp="$VENV/.installed-$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip
        # torch first and pinned: pip then takes the local CPU wheel instead of a multi-GB CUDA build
        "$VENV/bin/pip" install -q "$(grep -E '^torch==' requirements.txt)"
        "$VENV/bin/pip" install -q -r requirements.txt
        "$VENV/bin/pip" install -q --no-deps -r requirements-nodeps.txt
        "$VENV/bin/pip" install -q --no-deps -e .
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
    export PATH="$PWD/$VENV/bin:$PATH"
    export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TOKENIZERS_PARALLELISM=false
}

case "${1:-}" in
demo)
    setup
    snakemake --cores "$(nproc)" --configfile config/embedded.yaml --show-failed-logs "${@:2}"
    # the workflow names this config's summaries folder when it ends (Snakefile, onsuccess)
    echo "MLflow:  $VENV/bin/mlflow ui --backend-store-uri sqlite:///results/mlflow/mlflow.db"
    ;;
test)
    setup
    # one worker per core (-n auto), each test file on one worker (loadfile: a module's fixtures
    # are built once); the whole tiny DAG is shared across workers (conftest.finished_tiny_tree).
    # Not --dist loadgroup: pytest-xdist 3.8's xdist_group marks have no effect under pytest 9.2.
    python -m pytest -n auto --dist loadfile "${@:2}"
    ;;
bench)
    setup
    python -m benchmarks "${@:2}"
    ;;
calibrate)
    setup
    python -m breaking_bert.calibration "${@:2}"
    ;;
page)
    setup
    python -m breaking_bert.findings.page "${@:2}"
    ;;
memory)
    setup
    python -m breaking_bert.resources.check "${@:2}"
    ;;
*)
    echo "usage: $0 demo|test|bench|calibrate|page|memory [extra arguments]" >&2
    exit 2
    ;;
esac
