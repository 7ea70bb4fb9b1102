"""The constants of the layer benchmark (`benchmarks/layers.py`), shared by its
backends, harness and report: shapes, the layers / backends / lengths / phases /
policies measured, call counts and time limits, the sources hashed into a
result's code version, and where results go."""

from pathlib import Path

B, H, STATE_DIM = 8, 128, 64
LAYERS = ("s4d", "dss", "s5", "s5bi")
BACKENDS = ("jax", "tensorflow", "torch")
LENGTHS = (1024, 4096, 16384)
QUICK_LENGTHS = (1024, 4096)
PHASES = ("fwd", "fwdbwd", "step", "kernel", "memory")
LAYER_PHASES = ("fwd", "fwdbwd", "step")  # measured by the `one` worker
REF_PHASES = ("fwd", "fwdbwd")
POLICIES = ("float32", "mixed_bfloat16")
# glibc: mmap every block over 64 KiB and give it back on free (see measure_memory).
MEM_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
STEPS_PER_CALL = 32  # streaming steps per timed call; the table shows the time of one
WARMUP = 2  # the first warm-up call is the "first call" (compilation included)
CALLS, CALLS_LONG, CALLS_QUICK = 7, 3, 3
LONG = 16384  # from this length on, CALLS_LONG timed calls
CALL_LIMIT_S = 30.0  # a warm-up call slower than this ends the phase as a timeout
PHASE_BUDGET_S = 40.0  # no further timed call once a phase has run this long
SUBPROCESS_LIMIT_S = 150.0
QUIET_CORES = 0.3  # before a worker, wait (up to --quiet-wait s) for other processes below this
CONTENDED_CORES = 0.5  # a run whose other processes used more is re-run (up to --retries times)
TORCH_THREADS = 2
NAMES = {"s4d": "S4D", "dss": "DSS-softmax", "s5": "S5", "s5bi": "S5 bidirectional"}
CAUSAL = ("s4d", "dss", "s5")  # layers with a streaming `step`
# Complex modes per feature in the S4D / DSS kernel (S4D keeps N/2 by conjugate symmetry).
KERNEL_MODES = {"s4d": STATE_DIM // 2, "dss": STATE_DIM}
ROOT = Path(__file__).resolve().parent.parent
# What the benchmarked layers run (hashed into each result's code version).
SOURCES = (
    "keras_ssm/ops/*.py", "keras_ssm/layers/base.py", "keras_ssm/layers/s4d.py",
    "keras_ssm/layers/dss.py", "keras_ssm/layers/s5.py", "keras_ssm/discretization.py",
    "keras_ssm/hippo.py", "benchmarks/references.py",
)
RESULTS = Path(__file__).resolve().parent / "results"
RESULT_PREFIX = "RESULT "
