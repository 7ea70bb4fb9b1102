"""The Text and Pathfinder arms of the LRA audit (benchmarks/lra_audit.py) build the models
docs/zoo/lra_text_pathfinder_audit.md states, from their base recipes."""

import types

import numpy as np
import pytest

from benchmarks import lra_audit
from keras_ssm.training.recipe import build_model

# Parameters of each arm's classifier, as the audit page gives them (T0 and F0 are the published presets').
PARAMETERS = {
    "text": {"T0": 37826, "T1": 37826, "T2": 38850, "T3": 110466, "T4": 176514, "T5": 110466, "T6": 233346},
    "pathfinder32": {"F0": 30562, "F1": 67714, "F2": 167810, "F3": 101442, "F4": 266754, "F5": 266754,
                     "F6": 67714},
}
FAKE_DATA = {
    "text": types.SimpleNamespace(task="text", vocab_size=257, input_shape=(None,), num_classes=2),
    "pathfinder32": types.SimpleNamespace(task="pathfinder", vocab_size=None, input_shape=(1024, 1), num_classes=2),
}


@pytest.mark.parametrize("task, name", [(t, n) for t in PARAMETERS for n in PARAMETERS[t]])
def test_arm_builds_the_stated_model(task, name, tmp_path):
    recipe = lra_audit.arm_recipe(lra_audit.BASES[task], lra_audit.ARMS[task][name], 20, data_path=tmp_path)
    assert recipe["data"]["path"] == str(tmp_path)
    assert recipe["optimizer"]["warmup_epochs"] == lra_audit.AUDIT_WARMUP
    assert build_model(recipe, FAKE_DATA[task]).count_params() == PARAMETERS[task][name]
    assert (recipe["pretrain"] is not None) == (name in lra_audit.PRETRAIN_SHARE)


def test_arm_names_are_unique_across_tasks():
    names = [name for arms in lra_audit.ARMS.values() for name in arms]
    assert len(names) == len(set(names))
    assert set(PARAMETERS) | {"image"} == set(lra_audit.ARMS) == set(lra_audit.BASES)


def test_batch_tokens_excludes_padding_of_token_ids_only():
    ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0]])
    assert lra_audit.batch_tokens(ids) == (3, 8)
    assert lra_audit.batch_tokens(np.zeros((2, 4, 1), "float32")) == (8, 8)
