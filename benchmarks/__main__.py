"""python -m benchmarks [parse_masks] [engine] [trainer] [cls_only] [threads] [compile] [dryrun] [block_sparse]
[startup] [gpu_packing] (default: all but gpu_packing, which needs a GPU), from the repository root;
python -m benchmarks rehearsal REHEARSAL_FOLDER FULL_SCALE_FOLDER: a finished rehearsal read back and
the GPU-box run predicted from it (benchmarks/rehearsal.py); python -m benchmarks shallow [FOLDER]:
the whole tiny DAG on 1-, 2- and 3-layer models (benchmarks/shallow.py); python -m benchmarks
mlflow_ui FOLDER: a finished run's MLflow store through its UI over HTTP (benchmarks/mlflow_ui.py);
python -m benchmarks slurm_slice WORKDIR CLUSTER: one task's rehearsal through the SLURM profile on a
running test cluster (benchmarks/slurm_slice.py); python -m benchmarks gpu_box FULL_SCALE_FOLDER [CPU_HOURS]:
embedded_gpu.yaml on a GPU box predicted from the lent H200's measurements (benchmarks/gpu_box.py).

Each benchmark measures its two sides in one run, one after the other (or alternating), on the same
data, and prints one JSON line with the ratio and the goal. Sizes are small enough for a 2-core CPU.
threads and compile run each job in its own process, as the workflow does.
"""

import sys
from pathlib import Path

from .gpu_box import predict_gpu_box
from .kernels import bench_block_sparse
from .mlflow_ui import bench_mlflow_ui
from .rehearsal import predict
from .shallow import bench_shallow
from .slurm_slice import run_slice
from .stages import bench_dryrun, bench_parse_masks, bench_startup
from .training import bench_cls_only, bench_compile, bench_engine, bench_gpu_packing, bench_threads, bench_trainer

BENCHMARKS = {"parse_masks": bench_parse_masks, "engine": bench_engine, "trainer": bench_trainer, "cls_only": bench_cls_only,
              "threads": bench_threads, "compile": bench_compile, "dryrun": bench_dryrun,
              "block_sparse": bench_block_sparse, "startup": bench_startup, "gpu_packing": bench_gpu_packing}
# the default run on a CPU machine leaves out what needs a GPU
CPU_DEFAULT = [name for name in BENCHMARKS if name != "gpu_packing"]

# the read-backs and rehearsals that take folders: python -m benchmarks NAME FOLDER...
WITH_FOLDERS = {"rehearsal": lambda folder, full: predict(Path(folder), Path(full)),
                "shallow": lambda folder=None: bench_shallow(Path(folder) if folder else None),
                "mlflow_ui": bench_mlflow_ui,
                "slurm_slice": run_slice,
                "gpu_box": lambda full, cpu_hours=6.5: predict_gpu_box(Path(full), float(cpu_hours))}

if __name__ == "__main__":
    if sys.argv[1:2] and sys.argv[1] in WITH_FOLDERS:
        WITH_FOLDERS[sys.argv[1]](*sys.argv[2:])
        sys.exit(0)
    for name in sys.argv[1:] or CPU_DEFAULT:
        BENCHMARKS[name]()
