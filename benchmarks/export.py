"""Exported presets: streaming latency per chunk, int8 LiteRT accuracy, and
the sequence form's time against the Keras model.

```
.venv/bin/python -m benchmarks export [--presets fsdd_s5,fsdd_s4d,fsdd_dss] [--chunks 80,320]
    [--backends jax,tensorflow,torch] [--repeats 200] [--out benchmarks/results]
.venv/bin/python -m benchmarks export --sequence [--presets ...] [--lengths 4000,16000,64000,256000]
    [--backends jax,tensorflow,torch] [--repeats 20]
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

`--sequence`: one call of the sequence form on a clip of `length` samples
(batch 1, with its padding mask), in ONNX Runtime and LiteRT (their default
threads), exported whole (`sequence_chunk=None`: kernels as long as each
layer's input) and in chunks (the default `sequence_chunk`), beside the
Keras model's `predict_on_batch` on each backend (its own process). The
exports' calls take turns, round after round, so a burst of load hits
them alike; each cell is the fastest of `--repeats` calls (the machine's
other work only ever adds time). Writes `results/export_sequence.json` and
`results/export_sequence.md`, with the load average before and after.
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


def _fastest(calls, repeats):
    """The fastest of `repeats` calls of each of `calls` (a dict), taking
    turns round after round, after one warm-up call each."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.min(values)) for name, values in times.items()}


def _clip(length):
    x = np.random.default_rng(0).uniform(-1, 1, (1, length, 1)).astype(np.float32)
    return x, np.ones((1, length), bool)


def sequence_keras_worker(preset, lengths, repeats):
    """`predict_on_batch`'s seconds per clip on this process's backend."""
    import keras

    from keras_ssm import zoo

    model = zoo.load(preset)
    seconds = {}
    for length in lengths:
        x, mask = _clip(length)
        seconds[str(length)] = _fastest({"keras": lambda: model.predict_on_batch([x, mask])}, repeats)["keras"]
    return {"backend": keras.backend.backend(), "seconds": seconds}


def sequence_export_worker(preset, lengths, repeats, folder):
    """Exports the preset's sequence form whole and chunked, ONNX and
    LiteRT, at each length; their seconds per clip, sizes and errors."""
    from keras_ssm import export, zoo
    from keras_ssm.export.sequence_chunks import SEQUENCE_CHUNK

    model = zoo.load(preset)
    rows = {}
    for length in lengths:
        x, mask = _clip(length)
        calls, row = {}, {}
        for form, chunk in (("whole", None), ("chunked", SEQUENCE_CHUNK)):
            for format, suffix in (("onnx", ".onnx"), ("litert", ".tflite")):
                path = os.path.join(folder, f"{preset}_{length}_{form}{suffix}")
                start = time.perf_counter()
                description = export.export_model(model, path, format=format, length=length, sequence_chunk=chunk)
                name = f"{format}_{form}"
                row[f"{name}_export_seconds"] = time.perf_counter() - start
                row[f"{name}_megabytes"] = os.path.getsize(path) / 1e6
                row[f"{name}_error"] = export.verify(model, path, description)
                exported = export.ExportedModel(path)
                calls[name] = lambda exported=exported: exported(inputs=x, padding_mask=mask)
        row.update({f"{name}_seconds": value for name, value in _fastest(calls, repeats).items()})
        rows[str(length)] = row
    return {"sequence_chunk": SEQUENCE_CHUNK, "rows": rows}


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


def render_sequence(results):
    backends = results["backends"]
    lines = ["# Exported sequence form: whole-length kernels against chunks, and Keras", "",
             f"Generated by `python -m benchmarks export --sequence` ({results['cpus']} CPU cores, busy: 1-minute load "
             f"average {results['load_average_before']:.1f} before and {results['load_average_after']:.1f} after). "
             "One call of the sequence form on a clip of `length` samples at 8 kHz (batch 1, padding mask), the "
             f"fastest of {results['repeats']} calls, taking turns. *Whole*: kernels as long as each layer's input "
             f"(`sequence_chunk=None`); *chunked*: the default `sequence_chunk={results['sequence_chunk']}` steps "
             "(the FSDD presets' SSM layers run at 100 frames per second: 80 samples a step). Keras: "
             "`predict_on_batch`, each backend in its own process. Ratios within this run.", "",
             "| preset | samples (steps) | ONNX whole | ONNX chunked | LiteRT whole | LiteRT chunked | "
             + " | ".join(f"Keras {b}" for b in backends)
             + " | ONNX whole / chunked | ONNX chunked / best Keras | LiteRT chunked / best Keras |",
             "|---|---|---|---|---|---|" + "---|" * len(backends) + "---|---|---|"]

    def ms(seconds):
        return f"{1000 * seconds:.1f} ms" if seconds >= 0.01 else f"{1000 * seconds:.2f} ms"

    for preset, result in results["presets"].items():
        for length, row in result["rows"].items():
            keras_times = [result["keras"][b][length] for b in backends]
            best = min(keras_times)
            lines.append(
                f"| {preset} | {int(length):,} ({int(length) // 80:,}) | {ms(row['onnx_whole_seconds'])} | "
                f"{ms(row['onnx_chunked_seconds'])} | {ms(row['litert_whole_seconds'])} | "
                f"{ms(row['litert_chunked_seconds'])} | " + " | ".join(ms(t) for t in keras_times)
                + f" | {row['onnx_whole_seconds'] / row['onnx_chunked_seconds']:.2f}x"
                f" | {row['onnx_chunked_seconds'] / best:.2f}x | {row['litert_chunked_seconds'] / best:.2f}x |")
    lines += ["", "Size and largest relative error against Keras (`export.verify`, a padded example included):", "",
              "| preset | samples | ONNX whole | ONNX chunked | LiteRT whole | LiteRT chunked |",
              "|---|---|---|---|---|---|"]
    for preset, result in results["presets"].items():
        for length, row in result["rows"].items():
            cells = [f"{row[f'{n}_megabytes']:.2f} MB, {row[f'{n}_error']:.1e}"
                     for n in ("onnx_whole", "onnx_chunked", "litert_whole", "litert_chunked")]
            lines.append(f"| {preset} | {int(length):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sequence_main(args):
    lengths, backends = args.lengths, args.backends.split(",")
    results = {"cpus": os.cpu_count(), "repeats": args.repeats, "backends": backends,
               "load_average_before": os.getloadavg()[0], "presets": {}}
    common = ["--lengths", ",".join(map(str, lengths)), "--repeats", str(args.repeats)]
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets.split(","):
            result = _run_worker(["--sequence", "--worker", "export", "--preset", preset, "--folder", folder, *common],
                                 "tensorflow")
            result["keras"] = {b: _run_worker(["--sequence", "--worker", "keras", "--preset", preset, *common], b)["seconds"]
                               for b in backends}
            results["sequence_chunk"] = result.pop("sequence_chunk")
            results["presets"][preset] = result
            print(f"{preset}: {json.dumps(result)}", flush=True)
    results["load_average_after"] = os.getloadavg()[0]
    _write(results, args.out, "export_sequence", render_sequence)


def _write(results, out, stem, render_page):
    """Writes `OUT/STEM.json` and the page `OUT/STEM.md`, and prints the page."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.json"), "w") as f:
        json.dump(results, f, indent=2)
    page = render_page(results)
    with open(os.path.join(out, f"{stem}.md"), "w") as f:
        f.write(page)
    print(page)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks export", description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="fsdd_s5,fsdd_s4d,fsdd_dss")
    parser.add_argument("--chunks", default="80,320")
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--repeats", type=int, help="calls timed (default 200; --sequence: 20)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--render", action="store_true", help="rewrite the table from its JSON")
    parser.add_argument("--sequence", action="store_true", help="time the sequence form, whole and chunked")
    parser.add_argument("--lengths", default="4000,16000,64000,256000", help="--sequence: clip lengths, samples")
    parser.add_argument("--worker", choices=("keras", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    chunks = [int(c) for c in args.chunks.split(",")]
    if args.repeats is None:
        args.repeats = 20 if args.sequence else 200
    if args.sequence:
        args.lengths = [int(n) for n in args.lengths.split(",")]
        if args.render:
            with open(os.path.join(args.out, "export_sequence.json")) as f:
                results = json.load(f)
            with open(os.path.join(args.out, "export_sequence.md"), "w") as f:
                f.write(render_sequence(results))
        elif args.worker == "keras":
            print(json.dumps(sequence_keras_worker(args.preset, args.lengths, args.repeats)))
        elif args.worker == "export":
            print(json.dumps(sequence_export_worker(args.preset, args.lengths, args.repeats, args.folder)))
        else:
            sequence_main(args)
        return
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
    _write(results, args.out, "export", render)
