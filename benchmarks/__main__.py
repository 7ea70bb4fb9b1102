"""`python -m benchmarks <subcommand> [options]`.

Subcommands: `layers` (`benchmarks/layers.py`), `export` (`benchmarks/export.py`), `keyword_spotting`
(`benchmarks/keyword_spotting.py`), `pathfinder_fidelity` (`benchmarks/pathfinder_fidelity.py`), `load_predict`
(`benchmarks/load_predict.py`), `float32_spread` (`benchmarks/float32_spread.py`: a preset's float32 logits
against float64), `pathfinder_reference` (`benchmarks/pathfinder_reference.py`: the published Pathfinder generator,
in an environment of its own), `lra_audit` (`benchmarks/lra_audit.py`: the first steps of candidate LRA
configurations on validation), `listops_reference` (`benchmarks/listops_reference.py`: the ListOps preset on
trees from LRA's own generator against keras_ssm's), `streaming` (`benchmarks/streaming.py`: real-time factors of streams per backend)
and, when `benchmarks/scan.py` is present, `scan`. The subcommand's `main()` is called with `sys.argv`
rewritten to `[prog, *options]`, so it may parse `sys.argv` or take `argv`.
"""

import importlib
import sys
from pathlib import Path


def subcommands():
    """The benchmark modules present next to this file."""
    here = Path(__file__).parent
    return [name for name in ("layers", "scan", "export", "keyword_spotting", "pathfinder_fidelity", "load_predict",
                                  "float32_spread", "pathfinder_reference", "streaming", "lra_audit",
                                  "listops_reference") if (here / f"{name}.py").exists()]


def main():
    names = subcommands()
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        sys.exit(f"usage: python -m benchmarks {{{','.join(names)}}} [options]")
    name = sys.argv[1]
    sys.argv = [f"python -m benchmarks {name}", *sys.argv[2:]]
    importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main()
