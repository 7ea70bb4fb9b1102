"""Exported presets: streaming latency per chunk, and int8 LiteRT accuracy.

```
.venv/bin/python -m benchmarks export [--presets fsdd_s5,fsdd_s4d,fsdd_dss] [--chunks 80,320]
    [--backends jax,tensorflow,torch] [--repeats 200] [--out benchmarks/results]
```

- latency: one streaming call of `chunk` samples (the state carried), median
  over `--repeats` calls after a warm-up: the streaming export in ONNX Runtime
  and in the LiteRT interpreter (2 CPU cores, their default threads) beside
  the Keras stream (`ClassifierStream`: `jax.jit`, `tf.function`, torch
  eager without autograd) on each backend, each in a fresh process;
- int8: the streaming LiteRT export (chunk 320) in float32 and with
  dynamic-range int8 weights, run over the bundled FSDD test split
  (`examples/data/fsdd_test`, 300 clips, each streamed whole: its last chunk
  zero-padded with `valid` set to the samples it holds, so each answer is the
  full pass over the exact clip), beside the Keras model's accuracy on the
  same exact clips (the preset's own figure), and the file sizes.

Writes `results/export.json` and `results/export.md` (`--render` rewrites
the table from the JSON). Run it on a quiet machine: the timings are ratios
within one run, not targets.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLIPS = os.path.join(HERE, "..", "examples", "data", "fsdd_test", "test.npz")
# Chunks are whole hops of the FSDD presets' front end (80 samples, 10 ms at 8 kHz).
INT8_CHUNK = 320


def _median_seconds(call, repeats, warmup=10):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def keras_worker(preset, chunk, repeats):
    """The Keras stream's seconds per chunk on this process's backend."""
    import keras

    from keras_ssm import zoo
    from keras_ssm.models.streaming import ClassifierStream

    stream = ClassifierStream(zoo.load(preset), chunk_size=chunk)
    x = np.zeros((1, chunk, 1), np.float32)
    return {"backend": keras.backend.backend(), "seconds": _median_seconds(lambda: stream(x), repeats)}


def _exported_seconds(path, description, repeats):
    from keras_ssm.export import ExportedModel

    exported = ExportedModel(path)
    feeds = {s["name"]: np.zeros(s["shape"], np.float32) for s in description["state"]}
    feeds["inputs"] = np.zeros(description["inputs"][0]["shape"], np.float32)
    return _median_seconds(lambda: exported(**feeds), repeats)


def _clips():
    with np.load(CLIPS) as z:
        audio, offsets, labels = z["audio"], z["offsets"], z["labels"]
    for i in range(len(labels)):
        clip = audio[offsets[i] : offsets[i + 1]].astype(np.float32) / 32768.0
        yield clip[None, :, None], int(labels[i])


def _stream_accuracy(path, description):
    from keras_ssm.export import ExportedModel

    exported, chunk, right = ExportedModel(path), description["chunk_size"], 0
    for x, label in _clips():
        state = {s["name"]: np.zeros(s["shape"], np.float32) for s in description["state"]}
        for start in range(0, x.shape[1], chunk):
            piece = x[:, start : start + chunk]
            valid = piece.shape[1]  # the last chunk: zero-padded, `valid` says how much is audio
            piece = np.pad(piece, [(0, 0), (0, chunk - valid), (0, 0)])
            outputs = exported(inputs=piece, valid=[valid], **state)
            state = {s: outputs[f"next_{s}"] for s in state}
        right += int(outputs["logits"].argmax() == label)
    return right / 300


def _keras_accuracy(model):
    import keras

    right = sum(int(keras.ops.convert_to_numpy(model(x)).argmax() == label) for x, label in _clips())
    return right / 300


def tensorflow_worker(preset, chunks, repeats, folder):
    """Exports the preset's streaming form and measures it (latency, int8)."""
    from keras_ssm import export, zoo

    model = zoo.load(preset)
    rows = {"latency": {}, "int8": {}}
    for chunk in chunks:
        for format, suffix in (("onnx", ".onnx"), ("litert", ".tflite")):
            path = os.path.join(folder, f"{preset}_{chunk}{suffix}")
            description = export.export_model(model, path, format=format, streaming=True, chunk_size=chunk)
            rows["latency"].setdefault(str(chunk), {})[format] = _exported_seconds(path, description, repeats)
    for quantize in (None, "dynamic_int8"):
        path = os.path.join(folder, f"{preset}_{quantize or 'float32'}.tflite")
        description = export.export_model(model, path, format="litert", streaming=True, chunk_size=INT8_CHUNK,
                                          quantize=quantize)
        rows["int8"][quantize or "float32"] = {
            "accuracy": _stream_accuracy(path, description), "megabytes": os.path.getsize(path) / 1e6,
        }
    rows["int8"]["keras"] = {"accuracy": _keras_accuracy(model)}
    return rows


def _run_worker(args, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "benchmarks", "export", *args], env=env, capture_output=True,
                            text=True, cwd=os.path.dirname(HERE))
    if result.returncode:
        raise RuntimeError(f"worker {args} on {backend} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def render(results):
    lines = ["# Exported presets: streaming latency and int8", "",
             "Generated by `python -m benchmarks export` (2 CPU cores); milliseconds per streaming call of "
             "`chunk` samples (8 kHz), median, and the real-time factor (audio seconds per compute second).", "",
             "| preset | chunk | ONNX Runtime | LiteRT | Keras jax | Keras tensorflow | Keras torch |",
             "|---|---|---|---|---|---|---|"]
    for preset, rows in results["presets"].items():
        for chunk, cells in rows["latency"].items():
            audio = int(chunk) / 8000

            def cell(seconds):
                if not seconds:
                    return "-"
                factor = audio / seconds
                return f"{1000 * seconds:.2f} ms ({factor:.0f}x)" if factor >= 10 else f"{1000 * seconds:.2f} ms ({factor:.1f}x)"

            lines.append(f"| {preset} | {chunk} | {cell(cells.get('onnx'))} | {cell(cells.get('litert'))} | "
                         + " | ".join(cell(cells.get(f"keras_{b}")) for b in ("jax", "tensorflow", "torch")) + " |")
    lines += ["", f"Accuracy on the bundled FSDD test split (300 exact clips; each streamed in chunks of {INT8_CHUNK} "
              "samples, its last chunk zero-padded with `valid` set to the samples it holds, so a stream's "
              "answer is the full pass over the clip), LiteRT float32 against dynamic-range int8 weights, beside "
              "the Keras model on the same clips:", "",
              "| preset | Keras | LiteRT float32 | LiteRT int8 | size float32 | size int8 |", "|---|---|---|---|---|---|"]
    for preset, rows in results["presets"].items():
        q = rows["int8"]
        lines.append(f"| {preset} | {100 * q['keras']['accuracy']:.2f} % | {100 * q['float32']['accuracy']:.2f} % | "
                     f"{100 * q['dynamic_int8']['accuracy']:.2f} % | {q['float32']['megabytes']:.2f} MB | "
                     f"{q['dynamic_int8']['megabytes']:.2f} MB |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks export", description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="fsdd_s5,fsdd_s4d,fsdd_dss")
    parser.add_argument("--chunks", default="80,320")
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render", action="store_true", help="rewrite export.md from export.json")
    parser.add_argument("--worker", choices=("keras", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chunks = [int(c) for c in args.chunks.split(",")]
    if args.render:
        with open(os.path.join(args.out, "export.json")) as f:
            results = json.load(f)
        with open(os.path.join(args.out, "export.md"), "w") as f:
            f.write(render(results))
        return
    if args.worker == "keras":
        print(json.dumps(keras_worker(args.preset, chunks[0], args.repeats)))
        return
    if args.worker == "export":
        print(json.dumps(tensorflow_worker(args.preset, chunks, args.repeats, args.folder)))
        return
    results = {"cpus": os.cpu_count(), "repeats": args.repeats, "presets": {}}
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets.split(","):
            rows = _run_worker(["--worker", "export", "--preset", preset, "--chunks", args.chunks,
                                "--repeats", str(args.repeats), "--folder", folder], "tensorflow")
            for chunk in chunks:
                for backend in args.backends.split(","):
                    row = _run_worker(["--worker", "keras", "--preset", preset, "--chunks", str(chunk),
                                       "--repeats", str(args.repeats)], backend)
                    rows["latency"][str(chunk)][f"keras_{backend}"] = row["seconds"]
            results["presets"][preset] = rows
            print(f"{preset}: {json.dumps(rows)}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "export.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "export.md"), "w") as f:
        f.write(render(results))
    print(render(results))
