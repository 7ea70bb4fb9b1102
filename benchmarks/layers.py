"""Speed and memory of S4DLayer, DSSLayer and S5Layer on JAX, TensorFlow and torch (CPU),
side by side with the reference implementations' algorithms (`benchmarks/references.py`).

    python -m benchmarks layers [--layers s4d,dss,s5,s5bi] [--backends jax,tensorflow,torch]
        [--lengths 1024,4096,16384] [--phases fwd,fwdbwd,step,kernel,memory]
        [--policy float32|mixed_bfloat16] [--no-references] [--quick]
        [--quiet-wait 30] [--retries 1] [--out benchmarks/results]
    python -m benchmarks layers render  # layers.md and layers.png from layers.json

Every (layer, backend, L) runs in fresh subprocesses, so imports, compile
caches and memory peaks do not leak between configurations:
`python -m benchmarks.layers one ...` times the layer's forward,
forward+backward and streaming step, `... kernel ...` the S4D / DSS
convolution kernel alone and its peak memory, `... mem ...` the memory one
forward+backward call adds, `... ref ...` the reference implementation of
the same layer in its own framework. Results are merged into
`results/layers.json` and rendered to `results/layers.md` (with the targets
of issue #7 checked) and `results/layers.png`; see README.md.

The code: `layer_config.py` (the constants), `layer_backends.py` (what each
backend times), `harness.py` (timing, memory, the worker subprocesses and
running them) and `layer_report.py` (the results store, table, targets and
plot); this module holds the command line.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.harness import code_version, measure_config, worker
from benchmarks.layer_config import (
    BACKENDS, CALLS, CALLS_LONG, CALLS_QUICK, LAYERS, LENGTHS, LONG, PHASES, POLICIES, QUICK_LENGTHS,
    REF_PHASES, RESULTS,
)
from benchmarks.layer_report import load_results, merge, render, render_targets


# -- command line -------------------------------------------------------------


def _list(kind, allowed=None):
    """An argparse type: a comma-separated list of `kind`, within `allowed`."""

    def parse(text):
        values = [kind(v) for v in text.split(",") if v]
        if allowed is not None and not set(values) <= set(allowed):
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {allowed}")
        return values

    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks layers", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="mode")
    for mode in ("one", "kernel", "ref", "mem"):
        w = sub.add_parser(mode, help=f"worker subprocess ({mode})")
        w.add_argument("--layer", choices=LAYERS, required=True)
        w.add_argument("--backend", choices=BACKENDS, required=True)
        w.add_argument("--L", type=int, required=True)
        w.add_argument("--calls", type=int, default=CALLS)
        w.add_argument("--policy", choices=POLICIES, default="float32")
        if mode != "kernel":
            w.add_argument("--phases", type=_list(str, PHASES), default=list(REF_PHASES))
    sub.add_parser("render", help="re-render layers.md and layers.png from layers.json")
    parser.add_argument("--layers", type=_list(str, LAYERS), default=list(LAYERS), help="s4d,dss,s5,s5bi")
    parser.add_argument(
        "--backends", type=_list(str, BACKENDS), default=list(BACKENDS), help="jax,tensorflow,torch"
    )
    parser.add_argument("--lengths", type=_list(int), default=None, help="default 1024,4096,16384")
    parser.add_argument(
        "--phases", type=_list(str, PHASES), default=list(PHASES), help="fwd,fwdbwd,step,kernel,memory"
    )
    parser.add_argument("--policy", choices=POLICIES, default="float32", help="Keras dtype policy")
    parser.add_argument(
        "--no-references", dest="references", action="store_false",
        help="skip the reference implementations (run with float32 only)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"L {QUICK_LENGTHS}, {CALLS_QUICK} timed calls"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="max s to wait for a quiet machine"
    )
    parser.add_argument("--retries", type=int, default=1, help="re-runs of a contended worker")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    return parser.parse_args(argv)


def calls_for(length, quick):
    """Timed calls per phase at this length."""
    if quick:
        return CALLS_QUICK
    return CALLS_LONG if length >= LONG else CALLS


def run_suite(args):
    """Measures every requested config, saving after each; prints the tables."""
    lengths = args.lengths or list(QUICK_LENGTHS if args.quick else LENGTHS)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "layers.json"
    store = load_results(json_path)
    start = time.perf_counter()
    with_refs = args.references and args.policy == "float32"
    for layer in args.layers:
        for length in lengths:
            for backend in [*args.backends, *(["reference"] if with_refs else [])]:
                t0 = time.perf_counter()
                code_id, code = code_version()  # the sources may change during a long run
                store["code_versions"][code_id] = code
                results = measure_config(layer, backend, length, calls_for(length, args.quick), args)
                when = time.strftime("%Y-%m-%dT%H:%M:%S")
                merge(store, layer, backend, length, args.policy, results, code_id, when)
                json_path.write_text(json.dumps(store, indent=1) + "\n")
                status = ", ".join(f"{p} {r['status']}" for p, r in results.items())
                elapsed = time.perf_counter() - t0
                print(f"{layer} {backend} L={length} {args.policy}: {elapsed:.0f} s ({status})", flush=True)
    render(store, args.out)
    print(render_targets(store))
    print(f"total {time.perf_counter() - start:.0f} s; wrote {args.out}/layers.{{json,md,png}}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.mode is None:
        run_suite(args)
    elif args.mode == "render":
        render(load_results(args.out / "layers.json"), args.out)
    else:
        worker(args)


if __name__ == "__main__":
    main()
