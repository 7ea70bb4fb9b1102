"""`python -m keras_ssm zoo list | describe | evaluate | stream` on presets the test makes."""

import json

import keras
import numpy as np
import pytest

import keras_ssm.data
from keras_ssm import cli, zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.rate import retarget
from keras_ssm.zoo import registry
from keras_ssm.intervals import format_interval, wilson_interval
from tests.fsdd_fixture import write_fsdd, write_wav

METADATA = {
    "task": "audio-classification",
    "labels": [str(d) for d in range(10)],
    "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 8000},
    "data": {"name": "tiny tones", "task": "fsdd", "options": {"return_mask": True}},
    "architecture": {"layer": "s5"},
    "metrics": {},
    "evaluate": "python -m keras_ssm zoo evaluate tiny_s5 --data DIR",
}


KEYWORD_METADATA = {
    "task": "keyword-spotting",
    "labels": ["_silence_", "yes", "no"],
    "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": 16000},
    "data": {"name": "none", "task": "sc12"},
    "architecture": {"layer": "s5"},
    "detection": {"window_seconds": 1.0, "hop_seconds": 0.1, "refractory_seconds": 1.0, "threshold": 0.99,
                  "background": ["_silence_"]},
    "metrics": {},
    "evaluate": "python -m keras_ssm zoo evaluate tiny_kws --data DIR",
}


TEXT_METADATA = {
    "task": "text-classification",
    "labels": ["negative", "positive"],
    "input": {"shape": [None], "dtype": "int32", "vocab_size": 257},
    "data": {"name": "none", "task": "text"},
    "architecture": {"layer": "s4d"},
    "metrics": {},
    "evaluate": "python -m keras_ssm zoo evaluate tiny_text --data DIR",
}


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """A bundled root with one untrained, causal, pooled S5 preset whose
    metadata states the accuracy it really has at 8 and 4 kHz."""
    root = tmp_path_factory.mktemp("zoo")
    data_dir = write_fsdd(str(tmp_path_factory.mktemp("fsdd")))
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone("s5", depth=2, width=8, input_dim=1, pool=[4, 1], layer_kwargs={"state_dim": 4})
    model = SSMClassifier(backbone, num_classes=10)
    # The stated figures are counted here from the model's own argmax (not by evaluate_preset, the code the
    # CLI runs): at 4 kHz on the resampled clips with every step doubled (`retarget`).
    counts = {rate: argmax_counts(model if rate == 8000 else retarget(model, 2.0), data_dir, rate)
              for rate in (8000, 4000)}
    metrics = {"accuracy": counts[8000][0] / counts[8000][1], "accuracy_4000hz": counts[4000][0] / counts[4000][1]}
    folder = zoo.save_preset(model, root / "tiny_s5", {**METADATA, "metrics": metrics})
    keyword = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1, frontend={"sample_rate": 16000},
                                        layer_kwargs={"state_dim": 4}), num_classes=3)
    zoo.save_preset(keyword, root / "tiny_kws", KEYWORD_METADATA)
    text = SSMClassifier(SSMBackbone("s4d", depth=1, width=8, vocab_size=257, layer_kwargs={"state_dim": 4}),
                         num_classes=2)
    zoo.save_preset(text, root / "tiny_text", TEXT_METADATA)
    return root, data_dir, model, counts


def argmax_counts(model, data_dir, rate):
    """`(correct, total)` of the model's argmax over the fixture's test clips at `rate`."""
    data = keras_ssm.data.load("fsdd", data_dir, return_mask=True, sample_rate=rate, batch_size=8, shuffle=False)
    correct = total = 0
    for inputs, labels in data.test:
        predicted = np.argmax(keras.ops.convert_to_numpy(model(inputs)), axis=-1)
        correct += int((predicted == labels.numpy()).sum())
        total += len(predicted)
    return correct, total


@pytest.fixture
def bundled(presets, monkeypatch):
    monkeypatch.setattr(registry, "BUNDLED_ROOT", presets[0])
    return presets


def run(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_list_and_describe(bundled, capsys):
    code, out = run(capsys, "zoo", "list")
    assert code == 0
    header, rule, *rows = out.strip().splitlines()
    assert header.split() == ["name", "task", "layer", "params", "accuracy", "data"]
    assert [row.split()[:3] for row in rows] == [["tiny_kws", "keyword-spotting", "s5"],
                                                 ["tiny_s5", "audio-classification", "s5"],
                                                 ["tiny_text", "text-classification", "s4d"]]
    code, out = run(capsys, "zoo", "describe", "tiny_s5")
    assert code == 0 and json.loads(out)["data"]["task"] == "fsdd"


def test_evaluate_reproduces_the_metadata_and_flags_a_mismatch(bundled, capsys, tmp_path):
    root, data_dir, model, counts = bundled
    code, out = run(capsys, "zoo", "evaluate", "tiny_s5", "--data", data_dir, "--rate", "8000", "--rate", "4000",
                    "--verbose", "0")
    assert code == 0, out
    header, _, *lines = out.strip().splitlines()
    assert "95 % CI" in header
    rows = [line.split() for line in lines]
    assert [r[2] for r in rows] == ["8000", "4000"] and all(r[-1] == "yes" for r in rows)
    for line, rate in zip(lines, (8000, 4000)):  # the argmax counts, and their Wilson interval
        correct, total = counts[rate]
        assert f"{correct}/{total}" in line and format_interval(wilson_interval(correct, total)) in line
    code, out = run(capsys, "zoo", "evaluate", "--all", "--data", data_dir, "--verbose", "0")
    assert code == 0 and "not evaluated: tiny_kws, tiny_text" in out  # --all: the presets whose data DIR holds
    code, out = run(capsys, "zoo", "evaluate", "--all", "--data", data_dir, "--rate", "4000", "--verbose", "0")
    assert code == 0 and "not evaluated: tiny_kws, tiny_text" in out  # a rate: audio presets only
    wrong = zoo.save_preset(model, tmp_path / "wrong", {**METADATA, "metrics": {"accuracy": 1.5}})
    code, out = run(capsys, "zoo", "evaluate", str(wrong), "--data", data_dir, "--verbose", "0")
    assert code == 1 and out.strip().splitlines()[-1].split()[-1] == "NO"
    # Data of another size than the figures were measured on cannot confirm them: NO, and why.
    correct, total = counts[8000]
    other = zoo.save_preset(model, tmp_path / "other", {**METADATA, "metrics": {
        "accuracy": correct / total, "examples": total + 2, "subsets": [{"accuracy": 0.5, "examples": total + 1}]}})
    code, out = run(capsys, "zoo", "evaluate", str(other), "--data", data_dir, "--verbose", "0")
    assert code == 1 and out.strip().splitlines()[-2].split()[-1] == "NO"
    assert out.strip().splitlines()[-1].endswith(f"NO: {total} examples, the metadata's figures are on "
                                                 f"{total + 2} or {total + 1}")


def test_stream_prints_the_running_and_final_prediction(bundled, capsys, tmp_path):
    model = bundled[2]
    samples = (np.random.default_rng(0).uniform(-0.5, 0.5, 1234) * 32767).astype("int16")
    write_wav(tmp_path / "clip.wav", samples)
    code, out = run(capsys, "zoo", "stream", "tiny_s5", "--wav", str(tmp_path / "clip.wav"), "--chunk-ms", "10")
    assert code == 0
    lines = out.strip().splitlines()
    assert "chunks of 80 samples" in lines[0]
    final = next(line for line in lines if "final" in line)
    expected = int(np.argmax(keras.ops.convert_to_numpy(model(samples[None, :, None] / 32768.0))))
    assert repr(str(expected)) in final
    assert sum("so far" in line for line in lines) == 1234 // 80
    assert lines[-1].startswith("real-time factor:")


def test_stream_at_another_rate_runs_zero_shot_and_bad_input_is_refused(bundled, capsys, tmp_path):
    write_wav(tmp_path / "clip16k.wav", np.zeros(800, "int16"), rate=16000)
    code, out = run(capsys, "zoo", "stream", "tiny_s5", "--wav", str(tmp_path / "clip16k.wav"))
    assert code == 0 and "zero-shot at 16000 Hz" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["zoo", "stream", "tiny_s5", "--wav", str(tmp_path / "missing.wav")])
    assert exit_info.value.code == 2
    assert "--wav" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["zoo", "evaluate", "tiny_s55", "--data", "."])
    assert "tiny_s5" in capsys.readouterr().err  # the close match


def test_stream_of_a_keyword_preset_prints_each_detection(bundled, capsys, tmp_path):
    samples = (np.random.default_rng(0).uniform(-0.5, 0.5, 3 * 16000) * 32767).astype("int16")
    write_wav(tmp_path / "stream.wav", samples, rate=16000)
    code, out = run(capsys, "zoo", "stream", "tiny_kws", "--wav", str(tmp_path / "stream.wav"), "--threshold", "0")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert "scored every 100 ms, threshold 0" in lines[0]
    assert [line.split()[0] for line in lines[1:-1]] == ["1.00", "2.00", "3.00"]  # one per refractory second
    assert lines[-1].startswith("3 keyword(s) detected; real-time factor")
    code, out = run(capsys, "zoo", "stream", "tiny_kws", "--wav", str(tmp_path / "stream.wav"))
    assert code == 0 and "threshold 0.99" in out
