"""`python -m keras_ssm ...`: the command line.

Commands:
    demo       build each layer, check it against the float64 recurrence of
               its canonical system, time it, and print a table.
    train      train a recipe (a JSON file: data, model, optimizer, epochs)
               and its later stages, on several devices with --distribution
               (JAX backend).
    evaluate   evaluate a trained model on a recipe's data.
    tune       search the recipe's `tune` section with keras-tuner; write the
               best recipe as JSON.
    zoo        list, describe, evaluate and stream the pretrained presets
               (`keras_ssm/cli_zoo.py`).
    export     export a model to ONNX, LiteRT or SavedModel, verified in its
               runtime (`keras_ssm/cli_export.py`).
"""

import argparse
import importlib.util
import json
import os
import time

import keras
import numpy as np

import keras_ssm
from keras_ssm import cli_export, cli_zoo
from keras_ssm.simulate import simulate

DEMO_LAYERS = [
    ("S4D-LegS", lambda: keras_ssm.S4DLayer(state_dim=64, init="legs")),
    ("S4D-Inv", lambda: keras_ssm.S4DLayer(state_dim=64, init="inv")),
    ("S4D-Lin bilinear", lambda: keras_ssm.S4DLayer(state_dim=64, init="lin", discretization="bilinear")),
    ("S4D-Rand bidir.", lambda: keras_ssm.S4DLayer(state_dim=64, init="random", bidirectional=True)),
    ("DSS-exp", lambda: keras_ssm.DSSLayer(state_dim=64, variant="exp")),
    ("DSS-softmax", lambda: keras_ssm.DSSLayer(state_dim=64, variant="softmax")),
    ("S5 (J=4)", lambda: keras_ssm.S5Layer(state_dim=64, blocks=4)),
    ("S5 bidir.", lambda: keras_ssm.S5Layer(state_dim=64, blocks=4, bidirectional=True)),
]


def demo(args):
    """Runs every layer on random input and checks it against `simulate`."""
    keras.utils.set_random_seed(args.seed)
    u = np.random.default_rng(args.seed).standard_normal((args.batch, args.length, args.features))
    u = u.astype("float32")
    print(f"keras_ssm {keras_ssm.__version__} on the {keras.backend.backend()} backend")
    print(f"input (batch, length, features) = {u.shape}; reference: float64 numpy recurrence\n")
    header = f"{'layer':<18} {'params':>7} {'call ms':>8} {'rel. error':>11}  {'stream err':>10}  check"
    print(header)
    print("-" * len(header))
    failures = 0
    for name, make in DEMO_LAYERS:
        layer = make()
        y = keras.ops.convert_to_numpy(layer(u))  # builds, and warms up
        start = time.perf_counter()
        y = keras.ops.convert_to_numpy(layer(u))
        elapsed = 1000 * (time.perf_counter() - start)
        length = args.length if getattr(layer, "variant", None) == "softmax" else None
        expected = simulate(layer.ssm_parameters(length) if length else layer.ssm_parameters(), u)
        error = np.abs(y - expected).max() / np.abs(expected).max()
        stream = _stream_error(layer, u, y) if not layer.bidirectional else float("nan")
        ok = error <= 1e-4 and (layer.bidirectional or stream <= 1e-4)
        failures += not ok
        stream_text = f"{'(bidir.)':>10}" if layer.bidirectional else f"{stream:10.1e}"
        print(
            f"{name:<18} {layer.count_params():>7} {elapsed:>8.1f} {error:>11.1e}  {stream_text}  "
            f"{'ok' if ok else 'FAILED'}"
        )
    print(f"\n{len(DEMO_LAYERS) - failures}/{len(DEMO_LAYERS)} layers match their recurrence.")
    return 1 if failures else 0


def _stream_error(layer, u, full):
    """Max difference between `step` over the first 64 steps and the full call."""
    steps = min(64, u.shape[1])
    if getattr(layer, "variant", None) == "softmax":
        state = layer.get_initial_state(u.shape[0], length=u.shape[1])
    else:
        state = layer.get_initial_state(u.shape[0])
    outputs = []
    for k in range(steps):
        y, state = layer.step(u[:, k], state)
        outputs.append(keras.ops.convert_to_numpy(y))
    return float(np.abs(np.stack(outputs, 1) - full[:, :steps]).max() / np.abs(full).max())


# The extra of pyproject.toml that installs each optional package (by the
# name Python imports it by), for the sentence a missing one gives.
EXTRAS = {
    "tensorflow": "data",
    "scipy": "data",
    "PIL": "data",
    "tqdm": "data",
    "tensorflow_datasets": "all",
    "keras_tuner": "tune",
    "tensorboard": "tune",
    "six": "tune",
    "matplotlib": "plot",
    "onnx": "export-onnx",
    "onnxruntime": "export-onnx",
    "tf2onnx": "export-onnx",
    "ai_edge_litert": "export-litert",
    "jax2onnx": "export-jax",
    "litert_torch": "export-torch",
    "jax": "jax",
    "torch": "torch",
}
# `export` runs on TensorFlow and a route's converters: the extra of each format.
EXPORT_EXTRAS = {"onnx": "export-onnx", "litert": "export-litert", "saved_model": "tensorflow"}


def missing_package_message(error, command, extra=None):
    """The sentence for a `ModuleNotFoundError` of an optional package: what
    is missing and the pip command that installs it; None for any other
    module (a broken install, a bug: the traceback is then the useful answer).

    >>> missing_package_message(ModuleNotFoundError(name="tensorflow"), "zoo evaluate")
    '`python -m keras_ssm zoo evaluate` needs the package tensorflow, which is not installed: pip install "keras-ssm[data]" (in a clone: pip install -e ".[data]").'
    >>> missing_package_message(ModuleNotFoundError(name="keras_ssm.nothing"), "demo") is None
    True
    """
    package = (error.name or "").split(".")[0]
    if package not in EXTRAS:
        return None
    extra = extra or EXTRAS[package]
    return (
        f"`python -m keras_ssm {command}` needs the package {package}, which is not installed: "
        f'pip install "keras-ssm[{extra}]" (in a clone: pip install -e ".[{extra}]").'
    )


def _command(args):
    return " ".join(filter(None, (args.command, getattr(args, "zoo_command", None))))


def _export_preflight(args):
    """`export` re-runs itself on TensorFlow, whose absence would end that
    process at `import keras`, before any handler: checked here first."""
    if args.command == "export" and importlib.util.find_spec("tensorflow") is None:
        raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")


def _recipe_with_overrides(args):
    """The recipe path, or the parsed recipe with --distribution / --mesh and
    (train) --stop-after applied: --stop-after to the top level, stage 1 only."""
    from keras_ssm.training import recipe

    stop_after = getattr(args, "stop_after", None)
    if args.distribution is None and args.mesh is None and stop_after is None:
        return args.recipe
    if args.mesh is not None and args.distribution != "model_parallel":
        raise ValueError("--mesh BATCH,MODEL goes with --distribution model_parallel.")
    parsed = recipe.parse_recipe(args.recipe)
    if stop_after is not None:
        parsed["stop_after_epochs"] = stop_after
    if args.distribution == "none":
        parsed["distribution"] = None
    elif args.distribution == "data_parallel":
        parsed["distribution"] = {"type": "data_parallel"}
    elif args.distribution == "model_parallel":
        if args.mesh is None:
            raise ValueError("--distribution model_parallel needs --mesh BATCH,MODEL (e.g. --mesh 1,2).")
        try:
            mesh = [int(n) for n in args.mesh.split(",")]
        except ValueError:
            raise ValueError(f"--mesh must be two integers BATCH,MODEL, got {args.mesh!r}.") from None
        parsed["distribution"] = {"type": "model_parallel", "mesh": mesh}
    return parsed


def _add_distribution_flags(parser):
    parser.add_argument(
        "--distribution",
        choices=("none", "data_parallel", "model_parallel"),
        help="override the recipe's `distribution`: keras.distribution over every device "
        "(JAX backend only; on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices)",
    )
    parser.add_argument("--mesh", help="device mesh BATCH,MODEL of --distribution model_parallel, e.g. 1,2")


def train(args):
    """Trains a recipe's stages (or only --stage K); prints where each went and its result."""
    from keras_ssm.training import recipe

    if args.stop_after is not None and args.stage not in (None, 1):
        raise ValueError(
            f"--stop-after applies to stage 1; stage {args.stage} carries its own `stop_after_epochs` in the "
            "recipe's `stages`. Remove --stop-after."
        )
    out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.recipe))[0])
    for folder, summary in recipe.train_stages(_recipe_with_overrides(args), out, stage=args.stage,
                                               verbose=args.verbose):
        print(f"\n{summary['name']}: {summary['task']}, {summary['parameters']:,} parameters, {summary['seconds']} s")
        print(f"trained on {summary['distribution']}")
        print(f"best validation accuracy {summary['best_val_accuracy']:.4f} at epoch {summary['best_epoch']}")
        print(f"model: {os.path.join(folder, 'best.keras')}; metrics: {os.path.join(folder, 'metrics.csv')}")
    return 0


def evaluate(args):
    from keras_ssm.training import recipe

    result = recipe.evaluate(
        _recipe_with_overrides(args), args.model, split=args.split, verbose=args.verbose, sample_rate=args.rate
    )
    at = f" at {args.rate} Hz (zero-shot)" if args.rate else ""
    print(f"{args.split}{at}: accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    return 0


def tune(args):
    from keras_ssm.tuning import tune_recipe

    out = args.out or os.path.splitext(args.recipe)[0] + ".best.json"
    best = tune_recipe(args.recipe, out, max_trials=args.max_trials, verbose=args.verbose)
    print(f"\nbest recipe written to {out}:")
    print(json.dumps({"model": best["model"], "optimizer": best["optimizer"]}, indent=2))
    print(f"train it with: python -m keras_ssm train {out}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_ssm",
        description="keras_ssm: diagonal state-space models (DSS, S4D, S5) for Keras 3. "
        "Choose the backend with KERAS_BACKEND=jax|tensorflow|torch.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="build each layer, check it against its recurrence, print a table"
    )
    demo_parser.add_argument("--length", type=int, default=1024, help="sequence length (default 1024)")
    demo_parser.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    demo_parser.add_argument("--features", type=int, default=16, help="features H (default 16)")
    demo_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo_parser.set_defaults(run=demo)

    train_parser = commands.add_parser(
        "train",
        help="train a recipe",
        description="Train the model of a recipe JSON file (see keras_ssm/training/recipe.py "
        "for the format). Keeps the best model by validation accuracy, resumes an interrupted "
        "run from the same --out folder, and reports validation figures only (the test split is "
        "evaluated once, at publication: `python -m keras_ssm zoo evaluate`). A recipe with "
        "`stages` trains them in order: stage 1 into --out, stage K into the sibling <--out>_stage<K>, "
        "each warm-started from the previous stage's best.keras; a stage whose folder holds "
        "summary.json is skipped, so the same command resumes the chain.",
    )
    train_parser.add_argument("recipe", help="path of the recipe JSON file")
    train_parser.add_argument("--out", help="output folder (default runs/<recipe name>)")
    train_parser.add_argument(
        "--stage", type=int, metavar="K",
        help="train stage K only (1: the recipe's top level, K > 1: its `stages`), into its folder; "
        "stage K-1's best.keras must exist",
    )
    train_parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity")
    train_parser.add_argument(
        "--stop-after", type=int, metavar="N",
        help="end after N of the recipe's epochs, on the schedule of all of them (the recipe's "
        "`stop_after_epochs`): replays a stage that was stopped early. With `stages`, stage 1 only: "
        "later stages carry their own `stop_after_epochs`",
    )
    _add_distribution_flags(train_parser)
    train_parser.set_defaults(run=train)

    eval_parser = commands.add_parser(
        "evaluate", help="evaluate a trained model on a recipe's data split"
    )
    eval_parser.add_argument("recipe", help="path of the recipe JSON file (for its data)")
    eval_parser.add_argument("--model", required=True, help="the .keras file, e.g. runs/NAME/best.keras")
    eval_parser.add_argument("--split", default="validation", choices=("train", "validation", "test"),
                             help="the split (default validation; the test split only at publication)")
    eval_parser.add_argument(
        "--rate", type=int, help="audio tasks: evaluate at this sampling rate (Hz), the model re-targeted zero-shot"
    )
    eval_parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity")
    _add_distribution_flags(eval_parser)
    eval_parser.set_defaults(run=evaluate)

    tune_parser = commands.add_parser(
        "tune",
        help="search hyperparameters of a recipe with keras-tuner",
        description="Run a keras-tuner RandomSearch over the recipe's `tune` section (e.g. "
        '{"layer": ["s4d", "s5"], "lr": {"min": 1e-4, "max": 1e-2}}); every other field stays '
        "as the recipe sets it. Writes the best recipe as JSON, ready for `train`.",
    )
    tune_parser.add_argument("recipe", help="path of the recipe JSON file")
    tune_parser.add_argument("--max-trials", type=int, default=10, help="number of trials (default 10)")
    tune_parser.add_argument("--out", help="where to write the best recipe (default RECIPE.best.json)")
    tune_parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity")
    tune_parser.set_defaults(run=tune)

    cli_zoo.add_parser(commands)
    cli_export.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        _export_preflight(args)
        return args.run(args)
    except ModuleNotFoundError as error:
        extra = EXPORT_EXTRAS.get(getattr(args, "format", None)) if args.command == "export" else None
        message = missing_package_message(error, _command(args), extra)
        if message is None:
            raise
        parser.exit(2, f"error: {message}\n")
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
