"""Self-pretraining (issue 32): the objective's inputs, targets and weights,
no leak of a predicted step into its own prediction, a loss that falls, and
the recipe stage whose pretrained backbone reaches the classifier."""

import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_ssm.models import SSMBackbone
from keras_ssm.training import recipe as recipes
from keras_ssm.training.pretrain import SSMPretrainer, copy_backbone_weights
from tests.training import tiny_listops


def np_(x):
    return ops.convert_to_numpy(x)


def token_backbone(bidirectional, pool=None, layer="s4d"):
    return SSMBackbone(layer, depth=2, width=16, vocab_size=9, norm="layer", pool=pool,
                       layer_kwargs={"state_dim": 8, "bidirectional": bidirectional, "seed": 1})


def audio_backbone(bidirectional, pool=None, layer="s5"):
    return SSMBackbone(layer, depth=2, width=8, input_dim=2, norm="layer", pool=pool,
                       layer_kwargs={"state_dim": 4, "bidirectional": bidirectional, "seed": 1})


def tokens(batch=3, length=12, seed=0):
    x = np.random.default_rng(seed).integers(1, 9, (batch, length)).astype("int32")
    x[1, 9:] = 0  # right padding
    return x


def features(batch=3, length=12, seed=0):
    x = np.random.default_rng(seed).normal(size=(batch, length, 2)).astype("float32")
    mask = np.ones((batch, length), bool)
    mask[1, 9:] = False
    return x, mask


def test_masked_token_steps_are_replaced_by_a_reserved_id_and_predict_the_original():
    pretrainer = SSMPretrainer(token_backbone(True), mask_ratio=0.5, seed=0)
    x = tokens()
    masked = np.zeros(x.shape, bool)
    masked[:, [2, 5, 10]] = True  # step 10 of example 1 is padding
    corrupted, steps = pretrainer.mask_inputs(x, masked)
    corrupted, steps = np_(corrupted), np_(steps)
    # The mask id is an id of its own: not padding (0, which feeds no state) nor any token.
    assert pretrainer.mask_id == 9 and pretrainer.backbone.vocab_size == 10
    expected = np.where(masked & (x != 0), 9, x)
    np.testing.assert_array_equal(corrupted, expected)
    assert corrupted[1, 10] == 0  # padding stays padding
    outputs = pretrainer(x, masked=masked)
    np.testing.assert_array_equal(np_(outputs["targets"])[..., 0], x)  # the originals
    np.testing.assert_array_equal(np_(outputs["weights"])[..., 0], masked & (x != 0))  # masked valid steps only
    assert tuple(outputs["predictions"].shape) == (3, 12, 1, 9)


def test_masked_continuous_steps_are_zeroed_and_predict_the_original_values():
    pretrainer = SSMPretrainer(audio_backbone(True), mask_ratio=0.5, seed=0)
    x, mask = features()
    masked = np.zeros(mask.shape, bool)
    masked[:, [0, 4, 11]] = True
    (corrupted, kept_mask), steps = pretrainer.mask_inputs((x, mask), masked)
    np.testing.assert_array_equal(np_(kept_mask), mask)
    np.testing.assert_array_equal(np_(corrupted), np.where((masked & mask)[..., None], 0.0, x))
    outputs = pretrainer((x, mask), masked=masked)
    np.testing.assert_allclose(np_(outputs["targets"]), x)
    np.testing.assert_array_equal(np_(outputs["weights"])[..., 0], masked & mask)


def test_random_masks_cover_the_ratio_of_valid_steps():
    pretrainer = SSMPretrainer(token_backbone(True), mask_ratio=0.25, seed=3)
    x = np.random.default_rng(0).integers(1, 9, (64, 50)).astype("int32")
    x[:, 40:] = 0
    drawn = np_(pretrainer.draw_mask(x))
    assert not drawn[:, 40:].any()
    assert abs(drawn[:, :40].mean() - 0.25) < 0.03


@pytest.mark.parametrize("kind", ["tokens", "features", "tokens_pooled", "features_pooled"])
def test_a_masked_step_does_not_see_its_own_input(kind):
    pool = [2, 1] if kind.endswith("pooled") else None
    if kind.startswith("tokens"):
        pretrainer = SSMPretrainer(token_backbone(True, pool=pool), mask_ratio=0.5, seed=0)
        x = tokens()
        changed = x.copy()
        changed[0, 5] = 1 + changed[0, 5] % 8  # another token at a masked step
    else:
        pretrainer = SSMPretrainer(audio_backbone(True, pool=pool), mask_ratio=0.5, seed=0)
        x, mask = features()
        changed = x.copy()
        changed[0, 5] += 3.0
        x, changed = (x, mask), (changed, mask)
    output_step = 5 // pretrainer.stride
    length = 12 // pretrainer.stride
    masked = np.zeros((3, length), bool)
    masked[:, output_step] = True
    before = np_(pretrainer(x, masked=masked)["predictions"])[0, output_step]
    after = np_(pretrainer(changed, masked=masked)["predictions"])[0, output_step]
    np.testing.assert_array_equal(before, after)
    # The same change at an unmasked step moves the prediction there: the check can fail.
    unmasked = np.zeros_like(masked)
    seen_before = np_(pretrainer(x, masked=unmasked)["predictions"])[0, output_step]
    seen_after = np_(pretrainer(changed, masked=unmasked)["predictions"])[0, output_step]
    assert np.abs(seen_before - seen_after).max() > 1e-4


@pytest.mark.parametrize("kind", ["tokens", "features", "features_pooled"])
def test_a_causal_prediction_does_not_see_the_next_steps(kind):
    pool = [2, 1] if kind.endswith("pooled") else None
    if kind == "tokens":
        pretrainer = SSMPretrainer(token_backbone(False), seed=0)
        x = tokens()
        changed = x.copy()
        changed[:, 6:] = 1 + changed[:, 6:] % 8
        changed[1, 9:] = 0
    else:
        pretrainer = SSMPretrainer(audio_backbone(False, pool=pool), seed=0)
        x, mask = features()
        changed = x.copy()
        changed[:, 6:] += 2.0
        x, changed = (x, mask), (changed, mask)
    assert pretrainer.objective == "next_step" and pretrainer.mask_id is None
    s = pretrainer.stride
    out, moved = pretrainer(x), pretrainer(changed)
    last_unchanged = 6 // s - 1  # the last output step whose inputs all precede step 6
    np.testing.assert_allclose(
        np_(out["predictions"])[:, : last_unchanged + 1], np_(moved["predictions"])[:, : last_unchanged + 1],
        atol=1e-6,
    )
    later = np_(out["predictions"])[:, last_unchanged + 1 :] - np_(moved["predictions"])[:, last_unchanged + 1 :]
    assert np.abs(later).max() > 1e-4
    # Output t's target is the block of input steps t+1, weighted where it is valid.
    original = x if kind == "tokens" else x[0].reshape(3, 12 // s, -1)
    targets, weights = np_(out["targets"]), np_(out["weights"])
    if kind == "tokens":
        np.testing.assert_array_equal(targets[:, :-1, 0], original[:, 1:])
        np.testing.assert_array_equal(weights[:, :-1, 0], original[:, 1:] != 0)
    else:
        np.testing.assert_allclose(targets[:, :-1], original[:, 1:])
        np.testing.assert_array_equal(weights[:, :-1], x[1].reshape(3, -1, s)[:, 1:])
    assert not weights[:, -1].any()


def test_the_objectives_refuse_the_wrong_backbone():
    with pytest.raises(ValueError, match="objective='next_step'"):
        SSMPretrainer(token_backbone(False), objective="masked")
    with pytest.raises(ValueError, match="objective='masked'"):
        SSMPretrainer(token_backbone(True), objective="next_step")
    with pytest.raises(ValueError, match="`mask_ratio`"):
        SSMPretrainer(token_backbone(True), mask_ratio=1.5)


def periodic_tokens(count, length, seed):
    """Sequences of period 3: a masked token is its neighbours' pattern, so it can be learned."""
    rng = np.random.default_rng(seed)
    period = rng.integers(1, 9, (count, 3))
    return np.tile(period, (1, length // 3)).astype("int32")


def test_a_tiny_pretraining_lowers_the_reconstruction_loss():
    keras.utils.set_random_seed(0)
    pretrainer = SSMPretrainer(token_backbone(True), mask_ratio=0.15, seed=0)
    train, held = periodic_tokens(64, 24, 0), periodic_tokens(16, 24, 1)
    masked = np.random.default_rng(2).random(held.shape) < 0.15

    def loss():
        return float(np_(pretrainer.reconstruction_loss(pretrainer(held, masked=masked))))

    before = loss()
    pretrainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    pretrainer.fit(train, epochs=10, batch_size=16, verbose=0)
    after = loss()
    assert after < 0.8 * before, (before, after)
    pretrained = pretrainer.pretrained_backbone()
    assert pretrained.vocab_size == 9
    # The pretrained backbone is the trained one, less the mask id's row.
    for mine, trained in zip(pretrained.weights[1:], pretrainer.backbone.weights[1:]):
        np.testing.assert_array_equal(np_(mine), np_(trained))
    np.testing.assert_array_equal(np_(pretrained.encoder.embeddings), np_(pretrainer.backbone.encoder.embeddings)[:9])


def test_copy_backbone_weights_refuses_another_architecture():
    with pytest.raises(ValueError, match="differ"):
        copy_backbone_weights(token_backbone(True), audio_backbone(True))


# -- the recipe stage ---------------------------------------------------------


@pytest.fixture(scope="module")
def listops_dir(tmp_path_factory):
    return tiny_listops.write_listops(tmp_path_factory, 32, max_length=60)


def pretrain_recipe(data_dir, bidirectional, **pretrain):
    recipe = tiny_listops.tiny_recipe(data_dir, "s4d" if bidirectional else "s5", extra_data={"batch_size": 16},
                                      epochs=1)
    recipe["model"]["layer_kwargs"]["bidirectional"] = bidirectional
    recipe["pretrain"] = {"epochs": 2, "lr": 1e-2, **pretrain}
    return recipe


class StartingWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [np_(w) for w in self.model.backbone.weights]


class HeadWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        backbone = {id(w) for w in self.model.backbone.weights}
        self.weights = [np_(w) for w in self.model.weights if id(w) not in backbone]


@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_recipe_pretrains_then_fine_tunes_from_the_pretrained_backbone(listops_dir, tmp_path, bidirectional):
    recipe = pretrain_recipe(listops_dir, bidirectional)
    start = StartingWeights()
    summary = recipes.train(recipe, str(tmp_path), verbose=0, callbacks=[start])
    path = tmp_path / recipes.PRETRAINED_BACKBONE
    pretrained = SSMBackbone.from_preset(str(path))  # a backbone preset, sha256-verified
    assert type(pretrained) is SSMBackbone and pretrained.vocab_size == 18
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata["input"] == {"shape": [None], "dtype": "int32", "vocab_size": 18}
    assert metadata["pretrain"]["objective"] == summary["pretrain"]["objective"]
    assert metadata["metrics"]["val_loss"] == pytest.approx(
        float((tmp_path / "pretrain_metrics.csv").read_text().splitlines()[-1].split(",")[-1]))
    # The classifier's backbone starts fine-tuning from the saved pretrained weights.
    assert len(start.weights) == len(pretrained.weights)
    for started, saved in zip(start.weights, pretrained.weights):
        np.testing.assert_array_equal(started, np_(saved))
    record = summary["pretrain"]
    assert record["objective"] == ("masked" if bidirectional else "next_step")
    assert record["mask_ratio"] == (0.1 if bidirectional else None)  # ListOps' ratio of the paper
    assert record["epochs"] == 2 and np.isfinite(record["final_loss"]) and len(record["sha256"]) == 64
    rows = (tmp_path / "pretrain_metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "val_loss" in rows[0]
    assert summary["epochs"] == 1 and (tmp_path / "best.keras").exists()
    assert not (tmp_path / "pretrain_backup").exists()
    assert json.loads((tmp_path / "recipe.json").read_text())["pretrain"]["epochs"] == 2


def test_a_rerun_reads_the_pretrained_backbone_instead_of_pretraining_again(listops_dir, tmp_path):
    recipe = pretrain_recipe(listops_dir, True)
    recipes.train(recipe, str(tmp_path), verbose=0)
    weights = tmp_path / recipes.PRETRAINED_BACKBONE / "model.weights.h5"
    stamp = os.stat(weights).st_mtime_ns
    start = StartingWeights()
    summary = recipes.train(recipe, str(tmp_path), verbose=0, callbacks=[start])
    assert os.stat(weights).st_mtime_ns == stamp
    pretrained = SSMBackbone.from_preset(str(weights.parent))
    for started, saved in zip(start.weights, pretrained.weights):
        np.testing.assert_array_equal(started, np_(saved))
    assert summary["pretrain"]["sha256"] == recipes.sha256_file(str(weights))


def test_pretrained_once_fine_tuned_twice_from_the_backbone_preset(listops_dir, tmp_path):
    """A pretraining run's backbone preset as another recipe's `warm_start`:
    the backbone starts from it, the head from its own initialisers."""
    recipes.train(pretrain_recipe(listops_dir, True), str(tmp_path / "pretrained"), verbose=0)
    preset = tmp_path / "pretrained" / recipes.PRETRAINED_BACKBONE
    pretrained = SSMBackbone.from_preset(str(preset))
    heads = []
    for seed in (3, 4):
        recipe = pretrain_recipe(listops_dir, True)
        del recipe["pretrain"]
        recipe.update(seed=seed, warm_start=str(preset))
        start = StartingWeights()
        heads_start = HeadWeights()
        summary = recipes.train(recipe, str(tmp_path / f"fine_tuned_{seed}"), verbose=0,
                                callbacks=[start, heads_start])
        for started, saved in zip(start.weights, pretrained.weights):
            np.testing.assert_array_equal(started, np_(saved))
        assert summary["warm_start_sha256"] == recipes.sha256_file(str(preset / "model.weights.h5"))
        heads.append(heads_start.weights)
    # Each fine-tuning draws its own head (a head copied from anywhere would be equal).
    assert not all(np.array_equal(a, b) for a, b in zip(*heads))


def test_the_pretrain_fields_are_checked(listops_dir):
    recipe = pretrain_recipe(listops_dir, True)
    recipe["pretrain"] = {"epochs": 1, "mask_ration": 0.2}
    with pytest.raises(ValueError, match=r"Unknown recipe field `pretrain.mask_ration`"):
        recipes.parse_recipe(recipe)
    recipe["pretrain"] = {"mask_ratio": 0.2}
    with pytest.raises(ValueError, match=r"needs `pretrain.epochs`"):
        recipes.parse_recipe(recipe)
    recipe["pretrain"] = {"epochs": 1, "mask_ratio": 0}
    with pytest.raises(ValueError, match=r"`pretrain.mask_ratio` must be a number strictly between 0 and 1"):
        recipes.parse_recipe(recipe)
    causal = pretrain_recipe(listops_dir, False, mask_ratio=0.2)
    with pytest.raises(ValueError, match=r"`pretrain.mask_ratio` applies to bidirectional models"):
        recipes.parse_recipe(causal)
    parsed = recipes.parse_recipe(pretrain_recipe(listops_dir, True))
    # The optimizer fields it leaves out are the recipe's own.
    assert parsed["pretrain"]["lr"] == 1e-2 and parsed["pretrain"]["ssm_lr"] == 1e-3
    assert parsed["pretrain"]["weight_decay"] == 0.01 and parsed["pretrain"]["mask_ratio"] == 0.1


def frontend_backbone(bidirectional):
    # 16-sample hops of 32-sample frames; pool 2: one output step per 32 samples.
    return SSMBackbone("s5", depth=1, width=8, input_dim=1, norm="layer", pool=[2],
                       frontend={"sample_rate": 1600, "frame_seconds": 0.02, "hop_seconds": 0.01, "num_mel_bins": 8},
                       layer_kwargs={"state_dim": 4, "bidirectional": bidirectional, "seed": 1})


def test_a_front_end_backbone_predicts_the_log_mel_frames_of_the_hidden_samples():
    pretrainer = SSMPretrainer(frontend_backbone(True), mask_ratio=0.5, seed=0)
    assert pretrainer.stride == 32 and pretrainer.units_per_step == 2
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (2, 160, 1)).astype("float32")
    mask = np.ones((2, 160), bool)
    mask[1, 100:] = False
    masked = np.zeros((2, 5), bool)
    masked[:, 1] = True
    outputs = pretrainer((audio, mask), masked=masked)
    frames, frame_mask = pretrainer.backbone.frontend_layer(audio, mask=mask)
    np.testing.assert_allclose(np_(outputs["targets"]), np_(frames).reshape(2, 5, 16), rtol=1e-6)
    np.testing.assert_array_equal(np_(outputs["weights"]), np_(frame_mask).reshape(2, 5, 2) & masked[:, :, None])
    assert tuple(outputs["predictions"].shape) == (2, 5, 16)
    # The samples of the masked step's block are hidden from its prediction.
    changed = audio.copy()
    changed[:, 32:64] = rng.uniform(-0.5, 0.5, (2, 32, 1))
    moved = pretrainer((changed, mask), masked=masked)
    np.testing.assert_array_equal(np_(outputs["predictions"])[:, 1], np_(moved["predictions"])[:, 1])
    assert np.abs(np_(outputs["targets"])[:, 1] - np_(moved["targets"])[:, 1]).max() > 1e-3
    pretrainer.compile(optimizer="adam")
    history = pretrainer.fit((audio, mask), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_a_causal_front_end_backbone_predicts_the_next_frames_without_seeing_them():
    pretrainer = SSMPretrainer(frontend_backbone(False), seed=0)
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (2, 160, 1)).astype("float32")
    changed = audio.copy()
    changed[:, 96:] = rng.uniform(-0.5, 0.5, (2, 64, 1))  # the blocks of output steps 3 and 4
    out, moved = pretrainer(audio), pretrainer(changed)
    np.testing.assert_allclose(np_(out["predictions"])[:, :3], np_(moved["predictions"])[:, :3], atol=1e-6)
    frames, _ = pretrainer.backbone.frontend_layer(audio)
    np.testing.assert_allclose(np_(out["targets"])[:, :-1], np_(frames).reshape(2, 5, 16)[:, 1:], rtol=1e-6)
    # Output 2's target (frames 6 and 7) holds the changed samples: the prediction had to forecast them.
    assert np.abs(np_(out["targets"])[:, 2] - np_(moved["targets"])[:, 2]).max() > 1e-3
