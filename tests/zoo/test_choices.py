"""A preset's `choices` (validated when present) and its intervals, in metadata and card."""

import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.zoo import PresetError, cards
from keras_ssm.intervals import wilson_interval
from keras_ssm.zoo.verify import check_metadata

OLD = {"task": "audio-classification", "labels": ["no", "yes"], "input": {"shape": [None, 1], "dtype": "float32"},
       "metrics": {"accuracy": 0.9}, "evaluate": "python -m keras_ssm zoo evaluate x --data DIR"}


def test_choices_are_optional_but_checked_when_present():
    assert "choices" not in check_metadata(OLD, require_files=False)  # a preset published before choices
    good = [{"decision": "epoch 3 kept", "split": "validation"}, {"decision": "stage 2", "split": "test", "note": "x"}]
    check_metadata({**OLD, "choices": good}, require_files=False)
    for bad, message in [
        ({"decision": "x"}, r"`choices\[0\].split` must be one of \['validation', 'test', 'none'\]"),
        ({"decision": "x", "split": "train"}, r"`choices\[0\].split` must be one of"),
        ({"split": "test"}, r"`choices\[0\].decision` must be a non-empty string"),
        ({"decision": "x", "split": "none", "note": 3}, r"`choices\[0\].note` must be a string"),
        ({"decision": "x", "split": "none", "when": "later"}, r"unknown keys \['when'\]"),
        ("stage 2", r"`choices\[0\]` must be a dict"),
    ]:
        with pytest.raises(PresetError, match=message):
            check_metadata({**OLD, "choices": [bad]}, require_files=False)
    with pytest.raises(PresetError, match="`choices` must be a list"):
        check_metadata({**OLD, "choices": {"decision": "x"}}, require_files=False)


def test_a_test_split_choice_is_a_warning_on_the_card():
    meta = {"choices": [{"decision": "epoch 2 kept", "split": "validation"},
                        {"decision": "stage 3 started", "split": "test", "note": "goal missed on test"}]}
    section = cards.choices_section(meta)
    assert "- epoch 2 kept: on the validation split" in section
    assert "- **Warning: made after a test figure was seen.** stage 3 started (goal missed on test)" in section
    assert cards.results_note(meta) == "a decision was made after a test figure was seen: see Choices"
    assert cards.results_note({"choices": meta["choices"][:1]}) == "never used for a choice"
    assert cards.choices_section({}) == ""


@pytest.mark.parametrize("name", zoo.list_presets())
def test_bundled_presets_show_choices_and_intervals(name):
    meta = zoo.describe(name)
    assert meta["choices"], name
    card = (zoo.preset_path(name) / "README.md").read_text(encoding="utf-8")
    assert "## Choices" in card and "accuracy [95 % CI]" in card
    tested = [c for c in meta["choices"] if c["split"] == "test"]
    assert card.count("**Warning: made after a test figure was seen.**") == len(tested)
    if tested:
        assert "never used for a choice" not in card and "never used for any choice" not in card
    if name.startswith("fsdd_") or name == "lra_listops_s5":  # the two findings of issue #28
        assert tested
    if name.startswith("fsdd_"):  # the new model came after the old presets' test figures
        assert any("log-mel front end" in c["decision"] for c in tested)
    metrics = meta["metrics"]
    for block in [metrics, *metrics.get("subsets", [])]:
        for key in [k for k in block if k.startswith("accuracy") and not k.endswith("_interval")]:
            correct = round(block[key] * block["examples"])
            assert block[f"{key}_interval"] == pytest.approx(wilson_interval(correct, block["examples"]), abs=1e-6)
            assert cards.accuracy_cell(block, key) in card or cards.accuracy_cell(block, key, bold=True) in card
    matrix = np.array(metrics.get("confusion_matrix", metrics.get("confusion_matrix_8000hz", [[0]])))
    if matrix.sum():  # the counts the intervals stand on
        assert (int(np.trace(matrix)), int(matrix.sum())) == (round(metrics["accuracy"] * metrics["examples"]),
                                                              metrics["examples"])
