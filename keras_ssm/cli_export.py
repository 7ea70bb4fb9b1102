"""`python -m keras_ssm export`: a model to ONNX, LiteRT or SavedModel, verified.

Runs on the TensorFlow backend whatever `KERAS_BACKEND` says (under another
backend the command re-runs itself with `KERAS_BACKEND=tensorflow`): a saved
keras_ssm model is backend-neutral, so a model trained on JAX or torch
exports the same way.
"""

import argparse
import os
import subprocess
import sys
import warnings

import keras

from keras_ssm.export import FORMATS, export_model, verify
from keras_ssm.export.sequence_chunks import SEQUENCE_CHUNK


def _load(name_or_path, sample_rate):
    if name_or_path.endswith(".keras"):
        if sample_rate is not None:
            raise ValueError("`--rate` re-targets a preset; give a preset name or folder.")
        if not os.path.isfile(name_or_path):
            raise FileNotFoundError(f"No model file {name_or_path!r}.")
        return keras.saving.load_model(name_or_path, safe_mode=True), None
    from keras_ssm import zoo

    model = zoo.load(name_or_path, sample_rate=sample_rate)
    return model, zoo.describe(name_or_path)


def _tolerance(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive relative error (e.g. 3e-4), got {text!r}")
    return value


def _sequence_chunk(text):
    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--sequence-chunk must be a positive number of steps or 'none', got {text!r}")
    return int(text)


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _argv(args):
    argv = ["export", args.model, "--format", args.format, "--out", args.out]
    for flag, value in (("--length", args.length), ("--chunk", args.chunk), ("--rate", args.rate),
                        ("--quantize", args.quantize), ("--tolerance", args.tolerance)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--sequence-chunk", str(args.sequence_chunk).lower()]
    return argv + ["--streaming"] * args.streaming + ["--no-verify"] * args.no_verify


def export_command(args):
    backend = keras.backend.backend()
    if backend != "tensorflow":
        print(f"export: running on TensorFlow (this process runs Keras on {backend!r})", file=sys.stderr)
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        return subprocess.call([sys.executable, "-m", "keras_ssm", *_argv(args)], env=env)
    model, metadata = _load(args.model, args.rate)
    streaming = args.streaming
    chunk = args.chunk
    if streaming and chunk is None:
        stride = model.backbone.stride if hasattr(model, "backbone") else 1
        chunk = stride * -(-256 // stride)  # the first multiple of the stride from 256 steps
    print(f"exporting {args.model} ({type(model).__name__}, {model.count_params():,} parameters) "
          f"as {args.format}, {'streaming, chunk ' + str(chunk) if streaming else 'sequence, length ' + str(args.length)}")
    with warnings.catch_warnings():  # printed below, beside the inputs they concern
        warnings.filterwarnings("ignore", message="`padding_mask` dropped")
        description = export_model(
            model, args.out, format=args.format, streaming=streaming, length=args.length,
            chunk_size=chunk if streaming else None, quantize=args.quantize, sequence_chunk=args.sequence_chunk,
        )
    print(f"wrote {args.out} ({_size(args.out) / 1e6:.2f} MB) and {args.out}.json")
    for spec in description["inputs"]:
        default = f" (default {spec['default']})" if "default" in spec else ""
        print(f"  input  {spec['name']:<14} {spec['shape']} {spec['dtype']}{default}")
    for name in description["outputs"]:
        print(f"  output {name}")
    for note in description.get("warnings", []):
        print(f"  warning: {note}")
    if metadata is not None and metadata.get("input", {}).get("sample_rate"):
        print(f"  audio at {args.rate or metadata['input']['sample_rate']} Hz, labels {metadata.get('labels')}")
    if args.no_verify:
        return 0
    vocab = getattr(getattr(model, "backbone", model), "vocab_size", None)
    error = verify(model, args.out, description, vocab_size=vocab)
    what = "the stream fed chunk by chunk vs the full pass" if streaming else "outputs"
    tolerance = args.tolerance or (2e-2 if args.quantize else 1e-4)
    print(f"verified in its runtime: {what}, relative error {error:.2e} (tolerance {tolerance:g})")
    return 0 if error <= tolerance else 1


def add_parser(commands):
    parser = commands.add_parser(
        "export",
        help="export a model to ONNX, LiteRT or SavedModel (real arithmetic), verified in its runtime",
        description="Export a preset (name or folder) or a .keras model in real arithmetic (no complex "
        "dtype, no FFT): the sequence form at a fixed --length, or with --streaming one chunk and the "
        "state in, the logits so far and the next state out. The artifact is run in its own runtime "
        "(onnxruntime, the LiteRT interpreter, tf.saved_model) against the Keras model. Runs on "
        "TensorFlow whatever KERAS_BACKEND says.",
    )
    parser.add_argument("model", help="a preset name or folder, or a .keras file")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="the .onnx / .tflite file or the SavedModel folder")
    parser.add_argument("--streaming", action="store_true", help="export the streaming (chunk) form")
    parser.add_argument("--length", type=int, help="sequence form: the fixed input length")
    parser.add_argument("--chunk", type=int, help="streaming form: samples per chunk (default: from 256)")
    parser.add_argument("--sequence-chunk", type=_sequence_chunk, default=SEQUENCE_CHUNK, metavar="STEPS",
                        help=f"sequence form: a long input's causal SSM layers run in chunks of STEPS (default "
                             f"{SEQUENCE_CHUNK}); 'none': kernels as long as the input (docs/export.md)")
    parser.add_argument("--rate", type=int, help="presets: re-target to this sampling rate (Hz) first")
    parser.add_argument("--quantize", choices=("dynamic_int8",), help="LiteRT: int8 weights")
    parser.add_argument("--tolerance", type=_tolerance,
                        help="largest relative error the check accepts (default 1e-4; 2e-2 with --quantize)")
    parser.add_argument("--no-verify", action="store_true", help="skip the check in the runtime")
    parser.set_defaults(run=export_command)
