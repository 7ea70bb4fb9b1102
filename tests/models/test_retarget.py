"""Re-targeting to another sampling rate takes one route: every entry point
(the backbone's and the task's `retarget`, `rate.retarget`, `zoo.load` and
`from_preset` with a `sample_rate`) gives the model built by hand with the
backbone's `step_scale` (no front end) or the front end's `sample_rate`
(front end) changed, with the same weights."""

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.rate import resolve_step_scale, retarget
from tests.layer_test_case import numpy

TRAINED, FED = 16000, 8000  # step_scale 2


def classifier(frontend_rate=None, step_scale=1.0):
    """No front end: s4d on samples with pooling; front end: log-mel at `frontend_rate`."""
    keras.utils.set_random_seed(0)
    if frontend_rate is None:
        backbone = SSMBackbone("s4d", depth=2, width=8, input_dim=1, pool=[2, 1], step_scale=step_scale,
                               layer_kwargs={"state_dim": 4})
    else:
        backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4},
                               frontend={"sample_rate": frontend_rate, "num_mel_bins": 8, "upper_edge_hertz": 3000.0})
    return SSMClassifier(backbone, num_classes=3)


def by_hand(model, frontend):
    """The model as built with the new rate in its arguments, given `model`'s weights."""
    new = classifier(FED) if frontend else classifier(step_scale=TRAINED / FED)
    new.set_weights(model.get_weights())
    return new


def arguments(backbone):
    """A backbone's config without its (auto-numbered) name."""
    return {key: value for key, value in backbone.get_config().items() if key != "name"}


def saved_preset(model, tmp_path):
    return zoo.save_preset(model, tmp_path / "preset", {
        "task": "audio-classification", "labels": ["a", "b", "c"],
        "input": {"shape": [None, 1], "dtype": "float32", "sample_rate": TRAINED},
        "metrics": {}, "evaluate": "none: an untrained test model"})


ROUTES = {
    "task.retarget(step_scale)": lambda model, _: model.retarget(TRAINED / FED),
    "task.retarget(rates)": lambda model, _: model.retarget(sample_rate=FED, trained_rate=TRAINED),
    "rate.retarget": lambda model, _: retarget(model, TRAINED / FED),
    "zoo.load(sample_rate)": lambda model, tmp: zoo.load(saved_preset(model, tmp), sample_rate=FED),
    "from_preset(sample_rate)": lambda model, tmp: SSMClassifier.from_preset(saved_preset(model, tmp),
                                                                             sample_rate=FED),
}


@pytest.mark.parametrize("frontend", [False, True], ids=["steps", "frontend"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_gives_the_model_built_at_the_new_rate(route, frontend, tmp_path):
    model = classifier(TRAINED if frontend else None)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 800 if frontend else 40, 1)).astype("float32")
    expected = by_hand(model, frontend)
    new = ROUTES[route](model, tmp_path)
    assert arguments(new.backbone) == arguments(expected.backbone)
    np.testing.assert_allclose(numpy(new(x)), numpy(expected(x)), atol=1e-5)
    assert np.abs(numpy(new(x)) - numpy(model(x))).max() > 1e-4  # the rate changed something


@pytest.mark.parametrize("frontend", [False, True], ids=["steps", "frontend"])
def test_the_backbone_retargets_itself(frontend):
    model = classifier(TRAINED if frontend else None)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 800 if frontend else 40, 1)).astype("float32")
    new = model.backbone.retarget(sample_rate=FED, trained_rate=TRAINED)
    expected = by_hand(model, frontend).backbone
    assert arguments(new) == arguments(expected)
    np.testing.assert_allclose(numpy(new(x)), numpy(expected(x)), atol=1e-5)


def test_retargeting_composes_and_refuses_bad_arguments():
    config = classifier().get_config()
    twice = SSMClassifier.retarget_config(SSMClassifier.retarget_config(config, 2.0), 0.25)
    assert twice["backbone"]["config"]["step_scale"] == 0.5
    assert config["backbone"]["config"]["step_scale"] == 1.0  # a copy
    model = classifier()
    for kwargs, message in [
        ({}, "Give either `step_scale` or both"),
        ({"step_scale": 2.0, "sample_rate": FED}, "Give either"),
        ({"sample_rate": FED}, "`trained_rate`"),
        ({"step_scale": 0}, "`step_scale` must be a positive number"),
        ({"sample_rate": -1, "trained_rate": TRAINED}, "`sample_rate` must be a positive number of Hz"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.retarget(**kwargs)
    with pytest.raises(ValueError, match="`model` must be a keras_ssm SSMBackbone or task model"):
        retarget(keras.Sequential([keras.layers.Dense(2)]), 2.0)
    assert resolve_step_scale(sample_rate=4000, trained_rate=8000) == 2.0
