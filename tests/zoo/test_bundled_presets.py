"""Every bundled preset: verified loading, pinned outputs, masks, streaming,
zero-shot rates, and its metadata accuracy reproduced on the bundled test data."""

import json
import os

import keras
import numpy as np
import pytest

from keras_ssm import cli, zoo
from keras_ssm.models.rate import step_scale_for_rate
from keras_ssm.models.streaming import ClassifierStream
from keras_ssm.zoo.evaluation import evaluate_preset
from tests.fsdd_fixture import write_wav
from tests.zoo.pinned import bundled_example, digest, model_inputs, pinned_inputs, pinned_tolerance, read_pinned

PRESETS = zoo.list_presets()
AUDIO = [p for p in PRESETS if "sample_rate" in zoo.describe(p)["input"]]
PINNED = read_pinned()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FSDD_TEST = os.path.join(ROOT, "examples", "data", "fsdd_test")
SC_TEST = os.path.join(ROOT, "examples", "data", "speech_commands12_test")
LRA = [p for p in PRESETS if p.startswith("lra_")]
KEYWORD = [p for p in PRESETS if zoo.describe(p)["task"] == "keyword-spotting"]
BENCHMARKS = os.path.join(ROOT, "benchmarks", "results")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_the_zoo_has_the_fsdd_keyword_and_lra_presets():
    assert {"fsdd_s4d", "fsdd_dss", "fsdd_s5", "speech_commands12_s5", "lra_text_s4d", "lra_image_s5",
            "lra_listops_s5", "lra_pathfinder32_s5"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_metadata_names_data_split_command_and_files(name):
    metadata = zoo.describe(name)
    assert {"name", "source", "license", "split"} <= set(metadata["data"])
    assert metadata["evaluate"].startswith(f"python -m keras_ssm zoo evaluate {name} ")
    assert "accuracy" in metadata["metrics"]
    if name in AUDIO:
        assert f"accuracy_{metadata['input']['sample_rate'] // 2}hz" in metadata["metrics"]
    assert {"README.md", "config.json", "model.weights.h5", "learning_curve.png"} <= set(metadata["files"])
    folder = zoo.preset_path(name)
    size = sum(os.path.getsize(folder / f) for f in os.listdir(folder))
    assert size < 5e6, f"{name} is {size / 1e6:.1f} MB"
    assert metadata["parameters"] == zoo.load(name).count_params()


@pytest.mark.parametrize("name", PRESETS)
def test_outputs_are_pinned(name):
    """The same logits on every backend and after every later change."""
    assert name in PINNED, f"run python -m keras_ssm zoo publish pins {name}"
    metadata = zoo.describe(name)
    entry = PINNED[name]
    assert entry["sha256"] == metadata["files"]["model.weights.h5"], "the preset changed: re-pin it on purpose"
    inputs = model_inputs(metadata)
    logits = numpy(zoo.load(name)(inputs))
    np.testing.assert_allclose(logits, entry["logits"], **pinned_tolerance(name, entry))
    if name in AUDIO:
        half = zoo.load(name, sample_rate=metadata["input"]["sample_rate"] // 2)
        np.testing.assert_allclose(numpy(half(inputs)), entry["logits_half_rate"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", PRESETS)
def test_a_real_bundled_example_is_pinned_at_full_length(name):
    """The first example of the preset's bundled test subset, as its loader
    delivers it (full length, padded to its bucket, with its mask): the same
    logits on every backend as on JAX when the preset was pinned."""
    example = PINNED[name].get("bundled_example")
    assert example is not None, f"run python -m keras_ssm zoo publish pins --bundled-example-only {name}"
    metadata = zoo.describe(name)
    assert PINNED[name]["sha256"] == metadata["files"]["model.weights.h5"], "the preset changed: re-pin it on purpose"
    inputs, label = bundled_example(metadata)
    assert (digest(inputs), label) == (example["inputs_sha256"], example["label"]), (
        f"the first example of {example['data']} (or its loader) changed: the model is not what this checks")
    logits = numpy(zoo.load(name)(inputs))
    np.testing.assert_allclose(logits, example["logits"], **pinned_tolerance(name, PINNED[name]))


@pytest.mark.parametrize("name", KEYWORD)
def test_keyword_presets_detect_with_the_settings_their_benchmark_chose(name, capsys, tmp_path):
    """A benchmarked preset states the smoothing, threshold, figures and
    choices of its `benchmarks/results/keyword_spotting_<preset>.json` (the
    run at noise volume 0.1), as the publisher writes them, and `zoo stream`
    detects with its preset's settings."""
    from keras_ssm.zoo.publishing import detection_metadata, keyword_benchmark_file

    metadata = zoo.describe(name)
    settings = metadata["detection"]
    path = keyword_benchmark_file(name, folder=BENCHMARKS)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            benchmark = json.load(f)
        chosen = benchmark["detection"]
        assert benchmark["preset"] == name and chosen.get("max_words") is None
        assert (settings["smoothing"], settings["threshold"]) == (chosen["smoothing"], chosen["threshold"])
        assert metadata["streaming"]["detection"]["test"] == chosen["test"]
        detection, streaming, choices = detection_metadata(name, benchmark)
        assert json.loads(json.dumps([detection, streaming])) == [settings, metadata["streaming"]]
        assert [c for c in metadata["choices"] if c["decision"].startswith("detection ")] == choices
        for choice in ("smoothing", "threshold"):  # chosen on the validation fold's stream
            recorded = next(c for c in choices if c["decision"].startswith(f"detection {choice} "))
            assert recorded["split"] == "validation" and recorded["note"].startswith("fold 7 stream")
        assert f"{100 * chosen['test']['detection_rate']:.1f} % of keywords detected" in (
            zoo.preset_path(name) / "README.md").read_text()
    write_wav(tmp_path / "quiet.wav", np.zeros(1600), rate=metadata["input"]["sample_rate"])
    assert cli.main(["zoo", "stream", name, "--wav", str(tmp_path / "quiet.wav")]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"threshold {settings['threshold']:g}, smoothing over {settings['smoothing']} window(s)" in header


@pytest.mark.parametrize("name", PRESETS)
def test_padded_batch_streaming_and_rates(name):
    metadata = zoo.describe(name)
    model = zoo.load(name)
    x, _ = pinned_inputs(metadata)
    alone = numpy(model(x[1:, :700]))
    tolerance = {"rtol": 1e-5, "atol": 1e-5 * np.abs(alone).max()}  # float32 round-off on logits of ~10
    np.testing.assert_allclose(numpy(model(model_inputs(metadata)))[1:], alone, **tolerance)
    if not metadata["architecture"]["causal"]:
        with pytest.raises(ValueError, match="causal"):  # bidirectional: it cannot stream, and says so
            ClassifierStream(model, chunk_size=96)
        return
    # Streamed by chunks of 3.5 strides (so a half stride waits for the next chunk; few compiled
    # shapes; 96 tokens for a token preset), the clip gives the full pass's logits.
    chunk = model.backbone.stride * 7 // 2 if name in AUDIO else 96
    stream = ClassifierStream(model, chunk_size=chunk)
    for start in range(0, 700 // chunk * chunk, chunk):
        stream(x[1:, start : start + chunk])
    np.testing.assert_allclose(stream.finish(x[1:, 700 // chunk * chunk : 700]), alone, **tolerance)
    if name not in AUDIO:
        return
    rate = metadata["input"]["sample_rate"]
    half = zoo.load(name, sample_rate=rate // 2).backbone
    if half.frontend is None:  # half the rate: steps x 2; a front end takes the new rate itself
        assert half.step_scale == step_scale_for_rate(rate, rate // 2)
    else:
        assert half.frontend["sample_rate"] == rate // 2 and half.step_scale == 1.0


# The metadata's figures are reproduced on the backend they were measured on: the pinned logits (at
# both rates) hold the other backends to the same model, and tests/test_cli_zoo.py evaluates on each.
ON_JAX_ONLY = pytest.mark.skipif(keras.backend.backend() != "jax", reason="the pinned logits hold the other "
                                 "backends (CI time); tests/test_cli_zoo.py evaluates on each")


@ON_JAX_ONLY
@pytest.mark.parametrize("rate", [8000, 4000])
@pytest.mark.parametrize("name", [p for p in PRESETS if p.startswith("fsdd_")])
def test_evaluate_reproduces_the_metadata_accuracy(name, rate):
    metadata = zoo.describe(name)
    key = "accuracy" if rate == metadata["input"]["sample_rate"] else f"accuracy_{rate}hz"
    result = evaluate_preset(name, FSDD_TEST, sample_rate=rate, verbose=0)
    assert result["examples"] == 300
    assert result["accuracy"] == pytest.approx(metadata["metrics"][key], abs=1e-6)


@ON_JAX_ONLY
@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize("name", [p for p in PRESETS if p.startswith("speech_commands12_")])
def test_keyword_presets_reproduce_their_bundled_subset_accuracy(name, rate):
    metadata = zoo.describe(name)
    subset = metadata["metrics"]["subsets"][0]
    assert subset["data"] == "examples/data/speech_commands12_test" and metadata["metrics"]["examples"] == 441
    key = "accuracy" if rate == 16000 else "accuracy_8000hz"
    result = evaluate_preset(name, SC_TEST, sample_rate=rate, verbose=0)
    assert result["examples"] == 120
    assert result["accuracy"] == pytest.approx(subset[key], abs=1e-6)
    assert metadata["detection"]["window_seconds"] == 1.0 and metadata["task"] == "keyword-spotting"


@ON_JAX_ONLY
@pytest.mark.parametrize("name", LRA)
def test_lra_presets_reproduce_their_bundled_subset_accuracy(name):
    metadata = zoo.describe(name)
    subset = metadata["metrics"]["subsets"][0]
    result = evaluate_preset(name, os.path.join(ROOT, subset["data"]), verbose=0)
    assert result["examples"] == subset["examples"] < metadata["metrics"]["examples"]
    assert result["accuracy"] == pytest.approx(subset["accuracy"], abs=1e-6)
    assert metadata["data"]["task"] == metadata["lra_task"] and "test" in metadata["data"]["split"]
    assert metadata["training"]["command"].startswith("python -m keras_ssm train examples/recipes/")
    assert {"tokens_per_second", "seconds", "hardware", "epochs"} <= set(metadata["training"])
