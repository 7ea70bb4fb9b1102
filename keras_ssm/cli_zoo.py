"""`python -m keras_ssm zoo ...`: the pretrained presets from the command line.

    zoo list                                   the bundled presets, one line each
    zoo describe NAME                          a preset's metadata
    zoo evaluate NAME... --data DIR [--rate HZ ...]
                                               accuracy on the test split (Wilson 95 % interval),
                                               beside the metadata's
    zoo stream NAME --wav FILE [--chunk-ms MS] the running prediction over a wav file, chunk by chunk;
                                               for a keyword-spotting preset, each keyword detected
                                               and its time (the preset's detection settings;
                                               [--threshold P] [--smoothing N] override them)
    zoo publish FAMILY [options]               publish training runs as presets (fsdd,
                                               speech_commands, lra), from a clone of the repository
    zoo publish cards [NAME ...]               re-render published cards from their metadata
    zoo publish pins [NAME ...]                pin presets' logits for the tests (on JAX)
"""

import inspect
import json
import os

METRIC = "accuracy"
# The keys of a keyword preset's metadata `detection` that configure its KeywordSpotter.
DETECTION_SETTINGS = ("window_seconds", "hop_seconds", "threshold", "background", "refractory_seconds", "smoothing")


def _metric_key(metadata, rate):
    """The metadata metric for `rate`: `accuracy` at the preset's own rate,
    `accuracy_<rate>hz` at another."""
    own = metadata["input"].get("sample_rate")
    return METRIC if rate is None or rate == own else f"{METRIC}_{rate}hz"


def _stated(metadata, rate, examples):
    """The metadata's test accuracy for `rate` on a test split of `examples`
    clips: the main figure, or that of a listed subset (`metrics.subsets`, e.g.
    the bundled copy of part of the test split); None if neither has that size."""
    key = _metric_key(metadata, rate)
    for block in _blocks(metadata):
        if block.get("examples", examples) == examples:
            return block.get(key)
    return None


def _blocks(metadata):
    return [metadata["metrics"], *metadata["metrics"].get("subsets", [])]


def _count_differs(metadata, rate, result):
    """Why the data cannot reproduce the metadata's figure although it is the
    preset's test data, or None: the loader found listed examples missing, or
    the metadata states its figures on example counts that this data has none
    of."""
    if result["missing"]:
        return f"{result['missing']} listed example(s) missing from the data"
    key = _metric_key(metadata, rate)
    counts = [block["examples"] for block in _blocks(metadata) if key in block and "examples" in block]
    if counts and result["examples"] not in counts:
        return f"{result['examples']} examples, the metadata's figures are on {' or '.join(map(str, counts))}"
    return None


def _layer(metadata):
    return metadata.get("architecture", {}).get("layer", "?")


def list_command(args):
    from keras_ssm import zoo

    rows = [("name", "task", "layer", "params", "accuracy", "data")]
    for name in zoo.list_presets():
        meta = zoo.describe(name)
        accuracy = meta["metrics"].get(METRIC)
        rows.append((
            name, meta["task"], _layer(meta), f"{meta.get('parameters', 0):,}",
            "-" if accuracy is None else f"{100 * accuracy:.1f} %", meta.get("data", {}).get("name", "?"),
        ))
    if len(rows) == 1:
        print("No bundled presets.")
        return 0
    _print_table(rows)
    return 0


def _print_table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * width for width in widths))


def describe_command(args):
    from keras_ssm import zoo

    print(json.dumps(zoo.describe(args.name), indent=2))
    return 0


def evaluate_command(args):
    from keras_ssm import zoo
    from keras_ssm.zoo.evaluation import evaluate_preset
    from keras_ssm.intervals import format_interval

    names = zoo.list_presets() if args.all else args.names
    if not names:
        raise ValueError("Name at least one preset, or pass --all.")
    rows = [("preset", "layer", "rate Hz", "accuracy", "95 % CI", "correct", "metadata", "same")]
    mismatches, skipped, notes = 0, [], []
    for name in names:
        meta = zoo.describe(name)
        if args.all and args.rate and "sample_rate" not in meta["input"]:
            skipped.append(name)  # --all with --rate: audio presets only
            continue
        for rate in args.rate or [None]:
            try:
                result = evaluate_preset(name, args.data, sample_rate=rate, split=args.split, verbose=args.verbose)
            except FileNotFoundError:
                if not args.all:
                    raise
                skipped.append(name)  # --all: a preset of another task's data
                break
            stated = _stated(meta, rate, result["examples"]) if args.split == "test" else None
            same = "-" if stated is None else ("yes" if abs(stated - result["accuracy"]) < 1e-6 else "NO")
            differs = _count_differs(meta, rate, result) if args.split == "test" else None
            if differs:  # not the data the figure was measured on: it cannot confirm it
                same = "NO"
                notes.append(f"{name}: NO: {differs}")
            mismatches += same == "NO"
            rows.append((
                name, _layer(meta), result["sample_rate"] or "-", f"{100 * result['accuracy']:.2f} %",
                format_interval(result["interval"]), f"{result['correct']}/{result['examples']}",
                "-" if stated is None else f"{100 * stated:.2f} %", same,
            ))
    if len(rows) == 1:
        raise ValueError(f"--data {args.data!r} holds the data of none of the presets {names}.")
    print()
    _print_table(rows)
    for note in notes:
        print(note)
    if skipped:
        print(f"(not evaluated: {', '.join(skipped)}: {args.data} holds none of their data)")
    return 1 if mismatches else 0


def stream_command(args):
    import numpy as np

    from keras_ssm import zoo
    from keras_ssm.data.speech import read_wav
    from keras_ssm.models.streaming import ClassifierStream

    if not os.path.isfile(args.wav):
        raise ValueError(f"--wav: no file at {args.wav!r} (expected a 16-bit PCM wav file).")
    samples, rate = read_wav(args.wav)
    meta = zoo.describe(args.name)
    own = meta["input"].get("sample_rate")
    if own is None:
        raise ValueError(f"{args.name} does not take audio (its metadata states no input.sample_rate).")
    model = zoo.load(args.name, sample_rate=rate)
    if "detection" in meta:
        return _detect(args, meta, model, samples, rate)
    stride = model.backbone.stride
    chunk = max(stride, int(round(rate * args.chunk_ms / 1000 / stride)) * stride)
    audio = (samples.astype("float32") / 32768.0)[None, :, None]
    labels = meta["labels"]
    note = "" if rate == own else f" (trained at {own} Hz: run zero-shot at {rate} Hz)"
    print(f"{args.name}: {os.path.basename(args.wav)}, {len(samples) / rate:.2f} s at {rate} Hz{note}; "
          f"chunks of {chunk} samples ({1000 * chunk / rate:.0f} ms)")
    stream = ClassifierStream(model, chunk)
    full = len(samples) // chunk * chunk

    def show(at, logits, final=False):
        p = np.exp(logits[0] - logits[0].max())
        p /= p.sum()
        top = int(np.argmax(p))
        print(f"  {at / rate:6.2f} s  {'final' if final else 'so far':>6}: {labels[top]!r:>10} ({100 * p[top]:5.1f} %)")

    for start in range(0, full, chunk):
        show(start + chunk, stream(audio[:, start : start + chunk]))
    show(len(samples), stream.finish(audio[:, full:]), final=True)
    running = stream.chunk_seconds[1:]
    if running:
        per_chunk = float(np.median(running))
        print(f"real-time factor: {chunk / rate / per_chunk:.1f}x ({1000 * per_chunk:.1f} ms of compute per "
              f"{1000 * chunk / rate:.0f} ms chunk, median of {len(running)}; the first chunk, compilation "
              f"included, took {stream.chunk_seconds[0]:.2f} s)")
    else:
        print(f"real-time factor: {stream.samples / rate / max(stream.seconds, 1e-9):.1f}x (one chunk only, "
              "compilation included: stream a longer file for the running figure)")
    return 0


def _detect(args, meta, model, samples, rate):
    """Continuous keyword detection over the file, chunk by chunk."""
    from keras_ssm.models.keyword_spotter import KeywordSpotter

    # The preset's own detection settings (its smoothing and threshold are chosen on validation when it was
    # benchmarked); a setting it does not state keeps KeywordSpotter's default.
    settings = {key: meta["detection"][key] for key in DETECTION_SETTINGS if key in meta["detection"]}
    for key in ("threshold", "smoothing"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    spotter = KeywordSpotter(model, meta["labels"], rate, **settings)
    used = {key: p.default for key, p in inspect.signature(KeywordSpotter).parameters.items()} | settings
    chunk = max(1, int(round(rate * args.chunk_ms / 1000)))
    audio = samples.astype("float32") / 32768.0
    own = meta["input"]["sample_rate"]
    note = "" if rate == own else f" (trained at {own} Hz: run zero-shot at {rate} Hz)"
    print(f"{args.name}: {os.path.basename(args.wav)}, {len(samples) / rate:.2f} s at {rate} Hz{note}; "
          f"the last {used['window_seconds']:g} s scored every {1000 * used['hop_seconds']:.0f} ms, "
          f"threshold {used['threshold']:g}, smoothing over {used['smoothing']} window(s)")
    found = 0
    for start in range(0, len(audio), chunk):
        for at, label, p in spotter(audio[start : start + chunk]):
            print(f"  {at:7.2f} s  {label!r:>8} ({100 * p:5.1f} %)")
            found += 1
    print(f"{found} keyword(s) detected; real-time factor {len(audio) / rate / max(spotter.seconds, 1e-9):.1f}x "
          f"({spotter.streams} staggered windows, compilation included)")
    return 0


def add_parser(commands):
    zoo_parser = commands.add_parser("zoo", help="list, describe, evaluate and stream pretrained presets")
    sub = zoo_parser.add_subparsers(dest="zoo_command", required=True)
    sub.add_parser("list", help="the bundled presets").set_defaults(run=list_command)
    describe = sub.add_parser("describe", help="a preset's metadata (JSON)")
    describe.add_argument("name", help="preset name, folder or URL")
    describe.set_defaults(run=describe_command)
    evaluate = sub.add_parser(
        "evaluate", help="accuracy on a split, beside the metadata's figure",
        description="Evaluate presets on their task's data (the loader their metadata names), at "
        "their own sampling rate or zero-shot at others (--rate, repeatable), each accuracy with its Wilson "
        "95 % interval. Exits 1 (same: NO) if a test accuracy differs from the one the metadata states, or if "
        "the data cannot reproduce it (listed examples missing, another example count than the metadata's).",
    )
    evaluate.add_argument("names", nargs="*", help="preset names, folders or URLs")
    evaluate.add_argument("--all", action="store_true", help="every bundled preset whose data --data holds")
    evaluate.add_argument("--data", required=True, help="the data folder, e.g. examples/data/fsdd_test")
    evaluate.add_argument("--rate", type=int, action="append", help="audio rate in Hz (repeatable)")
    evaluate.add_argument("--split", default="test", choices=("train", "validation", "test"))
    evaluate.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity")
    evaluate.set_defaults(run=evaluate_command)
    stream = sub.add_parser("stream", help="stream a wav file through a preset, chunk by chunk")
    stream.add_argument("name", help="preset name, folder or URL (a causal audio classifier)")
    stream.add_argument("--wav", required=True, help="16-bit PCM wav; another rate than the preset's runs zero-shot")
    stream.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length in ms (default 100)")
    stream.add_argument("--threshold", type=float, help="keyword presets: detection probability (default: the preset's)")
    stream.add_argument("--smoothing", type=int,
                        help="keyword presets: windows averaged before the threshold (default: the preset's)")
    stream.set_defaults(run=stream_command)
    _add_publish_parser(sub)


def _add_publish_parser(sub):
    publish = sub.add_parser(
        "publish", help="publish training runs as presets, re-render cards, pin logits",
        description="Publish the training runs of a preset family (RUNS/NAME, RUNS/NAME_stage<k>) as presets, from "
        "a clone of the repository (paths are relative to its root): the stage of best validation accuracy, "
        "its test figures measured once, its metadata and its card (rendered from the metadata).",
    )
    family = publish.add_subparsers(dest="family", required=True)
    fsdd = family.add_parser("fsdd", help="the spoken-digit presets fsdd_<layer>")
    fsdd.add_argument("--runs", default="runs", help="folder of the run folders (default runs)")
    fsdd.add_argument("--layers", nargs="+", default=["s4d", "dss", "s5"], choices=["s4d", "dss", "s5"])
    fsdd.add_argument("--out", default="zoo", help="the presets' root folder (default zoo)")
    fsdd.add_argument("--candidates", nargs="*", default=[],
                      help="run folders of the variants compared (on validation) before the recipes were fixed")
    speech = family.add_parser("speech_commands", help="the keyword spotters speech_commands12_<layer>")
    speech.add_argument("--runs", default="runs", help="folder of the run folders (default runs)")
    speech.add_argument("--data", help="the 12-class v0.02 test set's folder (part*.npz)")
    speech.add_argument("--layers", nargs="+", default=["s5", "s4d"], choices=["s5", "s4d"])
    speech.add_argument("--out", default="zoo", help="the presets' root folder (default zoo)")
    speech.add_argument("--detection-only", action="store_true",
                        help="re-write only the published presets' detection metadata, plot and card from "
                        "benchmarks/results/keyword_spotting_<preset>.json (the benchmark's run at noise volume 0.1)")
    lra = family.add_parser("lra", help="a Long Range Arena preset lra_<task>_<layer>")
    lra.add_argument("--name", required=True, help="the preset's name, e.g. lra_text_s4d")
    lra.add_argument("--data", required=True, help="the task's data folder")
    lra.add_argument("--runs", default="runs", help="folder of the run folders (default runs)")
    lra.add_argument("--out", default="zoo", help="the presets' root folder (default zoo)")
    lra.add_argument("--paused", type=float, default=0.0,
                     help="seconds the last stage's run was paused (kill -STOP), taken off its wall time")
    lra.add_argument("--shared-cores", action="store_true",
                     help="the last stage's cores were shared with other runs for part of it (said in the card)")
    refresh = family.add_parser("cards", help="re-render published cards from their metadata (README.md and its "
                                "sha256 only)")
    refresh.add_argument("names", nargs="*", help="presets (default: every bundled preset)")
    refresh.add_argument("--out", default="zoo", help="the presets' root folder (default zoo)")
    pins = family.add_parser("pins", help="pin presets' logits on fixed inputs (tests/zoo/pinned_outputs.json)")
    pins.add_argument("names", nargs="*", help="presets (default: every bundled preset)")
    pins.add_argument("--bundled-example-only", action="store_true",
                      help="pin the bundled example alone, keeping the other pinned logits")
    publish.set_defaults(run=publish_command)


def publish_command(args):
    """Runs `zoo publish FAMILY` from the repository root (`--data` and
    `--candidates` as given, from the current directory)."""
    from keras_ssm.zoo import publishing
    from keras_ssm.zoo.registry import list_presets

    data = os.path.abspath(args.data) if getattr(args, "data", None) else None
    candidates = [os.path.abspath(d) for d in getattr(args, "candidates", [])]
    os.chdir(publishing.repository_root())
    if args.family == "fsdd":
        for layer in args.layers:
            compared = _compare_fsdd_candidates(candidates, layer)
            publishing.publish_fsdd(layer, args.runs, args.out, compared)
    elif args.family == "speech_commands":
        if data is None and not args.detection_only:
            raise SystemExit("zoo publish speech_commands: --data is required to publish (it measures the test "
                             "fold); --detection-only needs none")
        for layer in args.layers:
            if args.detection_only:
                publishing.refresh_detection(layer, args.out)
            else:
                publishing.publish_speech_commands(layer, args.runs, data, args.out)
    elif args.family == "lra":
        publishing.publish_lra(args.name, args.runs, data, args.out, paused=args.paused,
                               shared_cores=args.shared_cores)
    elif args.family == "cards":
        for name in args.names or list_presets():
            changed = publishing.refresh_card(os.path.join(args.out, name))
            print(f"{name}: {'card re-rendered' if changed else 'card unchanged'}")
    else:
        from keras_ssm.zoo import publish_pins

        publish_pins.pin(args.names or list_presets(), args.bundled_example_only)
    return 0


def _compare_fsdd_candidates(folders, layer):
    """The choice of `fsdd_<layer>`'s recipe among the candidate runs `folders`
    of that layer, each evaluated on the validation split at 8 kHz and
    zero-shot at 4 kHz (`keras_ssm.zoo.publishing.candidate_choices`)."""
    from keras_ssm.training import recipe as recipe_lib
    from keras_ssm.zoo.publishing import candidate_choices, read_json

    candidates = []
    for folder in folders:
        spec = read_json(os.path.join(folder, "recipe.json"))
        if spec["model"]["layer"] != layer:
            continue
        model = os.path.join(folder, "best.keras")
        candidates.append((folder, spec, recipe_lib.evaluate(spec, model, verbose=0)["accuracy"],
                           recipe_lib.evaluate(spec, model, verbose=0, sample_rate=4000)["accuracy"]))
    preset_recipe = recipe_lib.parse_recipe(os.path.join("examples", "recipes", f"fsdd_{layer}.json"))
    return candidate_choices(candidates, preset_recipe, layer)
