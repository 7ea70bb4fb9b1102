"""A raw-audio model with a log-mel front end: streamed by chunks of any size
(front end included), in constant memory, windows scored for detection."""

import keras
import numpy as np
import pytest

from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.keyword_spotter import KeywordSpotter, detect
from keras_ssm.models.rate import retarget
from keras_ssm.models.streaming import ClassifierStream
from tests.layer_test_case import numpy

RATE = 16000


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone("s5", depth=2, width=8, input_dim=1, pool=[2, 1], frontend={"sample_rate": RATE},
                           layer_kwargs={"state_dim": 4, "seed": 0})
    return SSMClassifier(backbone, num_classes=4)


@pytest.fixture(scope="module")
def audio():
    return (np.random.default_rng(0).normal(size=(1, 2000, 1)) * 0.1).astype("float32")


@pytest.mark.parametrize("chunk", [320, 100, 333])  # 100 and 333 do not divide the stride (320)
def test_stream_by_chunks_equals_the_full_pass(model, audio, chunk):
    assert model.backbone.stride == 320
    stream = ClassifierStream(model, chunk)
    heard = 0
    while heard + chunk <= audio.shape[1]:
        logits = stream(audio[:, heard : heard + chunk])
        heard += chunk
        if heard in (chunk, chunk * (audio.shape[1] // chunk)):
            np.testing.assert_allclose(logits, numpy(model(audio[:, :heard])), atol=1e-5)
    np.testing.assert_allclose(stream.finish(audio[:, heard:]), numpy(model(audio)), atol=1e-5)


def test_the_state_does_not_grow_over_a_long_stream(model):
    stream = ClassifierStream(model, 1600)
    shapes = [tuple(x.shape) for x in keras.tree.flatten(stream._state)]
    noise = np.random.default_rng(1).normal(size=(1, 1600, 1)).astype("float32") * 0.1
    for _ in range(50):  # 5 s of audio
        stream(noise)
    assert [tuple(x.shape) for x in keras.tree.flatten(stream._state)] == shapes
    assert sum(np.prod(s) for s in shapes) < 2000  # a few kB whatever the length


def test_spotter_scores_each_window_as_a_clip(model, audio):
    audio = np.concatenate([audio, audio[:, ::-1]], axis=1)  # 4,000 samples: 20 windows of 0.2 s
    spotter = KeywordSpotter(model, ["_silence_", "a", "b", "c"], RATE, window_seconds=0.2, hop_seconds=0.04,
                             threshold=0.0, refractory_seconds=0.0)
    detections = []
    for start in range(0, audio.shape[1], 700):
        detections += spotter(audio[0, start : start + 700, 0])
    assert len(spotter.scores) == audio.shape[1] // 640 - 4
    for at, probabilities in spotter.scores:
        end = int(round(at * RATE))
        clip = numpy(keras.ops.softmax(model(audio[:, end - 3200 : end])))[0]
        np.testing.assert_allclose(probabilities, clip, atol=1e-5)
    assert [d[0] for d in detections] == [s[0] for s in spotter.scores]  # threshold 0: every window
    assert all(label != "_silence_" for _, label, _ in detections)
    assert detect(spotter.scores, spotter.labels, 0.0, refractory_seconds=0.0) == detections
    spaced = detect(spotter.scores, spotter.labels, 0.0, refractory_seconds=0.1)
    assert np.all(np.diff([d[0] for d in spaced]) >= 0.1 - 1e-9) and len(spaced) < len(detections)


def test_posterior_smoothing_averages_the_last_windows():
    labels = ["_silence_", "yes"]
    scores = [(t / 10, np.array(p)) for t, p in enumerate([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])]
    assert [d[0] for d in detect(scores, labels, 0.6, refractory_seconds=0.0, smoothing=1)] == [0.1, 0.2]
    smoothed = detect(scores, labels, 0.6, refractory_seconds=0.0, smoothing=2)
    assert [(d[0], round(d[2], 6)) for d in smoothed] == [(0.2, 0.9)]  # (0.9 + 0.9) / 2 at 0.2 only
    with pytest.raises(ValueError, match="smoothing"):
        detect(scores, labels, 0.5, smoothing=0)


def test_refusals(model, audio):
    with pytest.raises(ValueError, match="multiple of the model's stride"):
        KeywordSpotter(model, ["a", "b", "c", "d"], RATE, hop_seconds=0.03)
    with pytest.raises(ValueError, match="names 2 classes"):
        KeywordSpotter(model, ["a", "b"], RATE)
    with pytest.raises(ValueError, match="use `chunk`"):
        model.backbone.step(audio[:, 0], model.backbone.get_initial_state(1))
    with pytest.raises(ValueError, match="input_dim=1"):
        SSMBackbone("s5", depth=1, width=8, input_dim=2, frontend={})


def test_retargeted_front_end_takes_the_new_rate(model, audio):
    low = retarget(model, 2.0)  # trained at 16 kHz, fed 8 kHz
    assert low.backbone.frontend_layer.sample_rate == 8000 and low.backbone.frontend_layer.hop == 80
    assert low.backbone.step_scale == 1.0  # the SSMs keep their frame rate
    assert tuple(low(audio[:, :2000]).shape) == (1, 4)
    # (A preset with this front end is pinned on every backend: tests/zoo/test_bundled_presets.py.)
