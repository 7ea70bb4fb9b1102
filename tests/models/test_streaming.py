"""Streams with their constants computed once: S4D / DSS chunk passes from a
`StreamConstants`, compiled steps that hold the weights of the stream's start."""

import keras
import numpy as np
import pytest

import keras_ssm
from keras_ssm.layers.base import MAX_TOEPLITZ, StreamConstants
from keras_ssm.models import SSMBackbone, SSMClassifier
from keras_ssm.models.keyword_spotter import KeywordSpotter
from keras_ssm.models.streaming import ClassifierStream
from tests.layer_test_case import numpy

LAYERS = {
    "s4d": lambda: keras_ssm.S4DLayer(state_dim=8, seed=0),
    "dss_exp": lambda: keras_ssm.DSSLayer(state_dim=8, variant="exp", seed=0),
}


@pytest.mark.parametrize("step_scale", [1.0, 0.5])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_chunks_from_the_stream_constants_equal_the_full_pass(name, step_scale):
    layer = LAYERS[name]()
    x = np.random.default_rng(0).standard_normal((2, 100, 3)).astype("float32")
    full = numpy(layer(x, step_scale=step_scale))
    # Chunks of 8 (three times: the constants of one length serve them all), a
    # long one convolved by FFT, and a partial last one.
    bounds = [0, 8, 16, 24, MAX_TOEPLITZ + 24 + 1, 100]
    state, outputs = layer.get_initial_state(2), []
    with StreamConstants(layer, step_scale) as constants:
        for start, end in zip(bounds[:-1], bounds[1:]):
            y, state = layer.chunk(x[:, start:end], state, step_scale=step_scale)
            outputs.append(numpy(y))
    assert sorted(constants.lengths(layer)) == sorted({8, MAX_TOEPLITZ + 1, 100 - MAX_TOEPLITZ - 25})
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=1e-4)
    # The same chunks from the weights (no stream open) agree.
    y, _ = layer.chunk(x[:, :8], layer.get_initial_state(2), step_scale=step_scale)
    np.testing.assert_allclose(numpy(y), outputs[0], atol=1e-5)


def test_another_step_scale_reads_the_weights():
    layer = LAYERS["s4d"]()
    x = np.random.default_rng(1).standard_normal((1, 12, 3)).astype("float32")
    full = numpy(layer(x, step_scale=2.0))
    with StreamConstants(layer, 1.0) as constants:
        y, _ = layer.chunk(x, layer.get_initial_state(1), step_scale=2.0)
    assert constants.lengths(layer) == []
    np.testing.assert_allclose(numpy(y), full, atol=1e-5)


def audio_classifier(name):
    keras.utils.set_random_seed(0)
    kwargs = {"s4d": {"state_dim": 8, "seed": 0}, "dss": {"state_dim": 8, "variant": "exp", "seed": 0}}[name]
    backbone = SSMBackbone(name, depth=2, width=8, input_dim=1, frontend={"sample_rate": 1600, "num_mel_bins": 8,
                                                                          "upper_edge_hertz": 800.0},
                           layer_kwargs=kwargs)
    return SSMClassifier(backbone, num_classes=3)


@pytest.mark.parametrize("name", ["s4d", "dss"])
def test_a_kernel_model_streams_like_its_full_pass(name):
    model = audio_classifier(name)
    audio = (np.random.default_rng(0).normal(size=(1, 700, 1)) * 0.1).astype("float32")
    stream = ClassifierStream(model, 160)  # 10 hops a chunk; 60 samples left for `finish`
    for start in range(0, 640, 160):
        logits = stream(audio[:, start : start + 160])
        np.testing.assert_allclose(logits, numpy(model(audio[:, : start + 160])), atol=1e-5)
    assert all(stream.constants.lengths(layer) == [10] for layer in keras_ssm.layers.base.ssm_layers(model))
    np.testing.assert_allclose(stream.finish(audio[:, 640:]), numpy(model(audio)), atol=1e-5)


def test_a_stream_keeps_the_weights_it_started_with():
    model = audio_classifier("s4d")
    audio = (np.random.default_rng(2).normal(size=(1, 320, 1)) * 0.1).astype("float32")
    before = numpy(model(audio))
    stream = ClassifierStream(model, 160)
    stream(audio[:, :160])
    layer = keras_ssm.layers.base.ssm_layers(model)[0]
    layer.C_re.assign(layer.C_re * 3.0)
    assert not np.allclose(numpy(model(audio)), before, atol=1e-3)
    np.testing.assert_allclose(stream(audio[:, 160:]), before, atol=1e-5)  # per stream, fixed at its start
    fresh = ClassifierStream(model, 160)
    fresh(audio[:, :160])
    np.testing.assert_allclose(fresh(audio[:, 160:]), numpy(model(audio)), atol=1e-5)


def test_an_s4d_spotter_scores_each_window_as_a_clip():
    model = audio_classifier("s4d")
    audio = (np.random.default_rng(3).normal(size=1600) * 0.1).astype("float32")
    spotter = KeywordSpotter(model, ["_silence_", "a", "b"], 1600, window_seconds=0.5, hop_seconds=0.1,
                             threshold=0.0, refractory_seconds=0.0)
    spotter(audio)
    assert len(spotter.scores) == 6
    for at, probabilities in spotter.scores:
        end = int(round(at * 1600))
        clip = numpy(keras.ops.softmax(model(audio[None, end - 800 : end, None])))[0]
        np.testing.assert_allclose(probabilities, clip, atol=1e-5)
