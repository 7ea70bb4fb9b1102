"""Inputs a model would get silently wrong are refused with a clear error
(issue #29, item 4): integer audio (int16 PCM) and token ids outside the
vocabulary."""

import keras
import numpy as np
import pytest

from keras_ssm import zoo
from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier
from tests.layer_test_case import numpy

INT_AUDIO = "has dtype int16.*float features.*astype\\(\"float32\"\\) / 32768"
OUT_OF_VOCAB = "token id {}, outside this model's vocabulary \\(vocab_size=10"


def compiled(model):
    """`model`'s call compiled by the backend (the values inside are traced)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(lambda x: model(x))
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x))
    import torch

    return torch.compile(lambda x: model(x))


def audio_model(layer="s5"):
    backbone = SSMBackbone(layer, depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4})
    return SSMClassifier(backbone, num_classes=3)


def token_model(layer="s4d"):
    backbone = SSMBackbone(layer, depth=1, width=8, vocab_size=10, layer_kwargs={"state_dim": 4})
    return SSMClassifier(backbone, num_classes=3)


def pcm(batch=2, samples=64):
    return (np.random.default_rng(0).uniform(-1, 1, (batch, samples, 1)) * 30000).astype("int16")


@pytest.mark.parametrize("layer", ["s5", "s4d", "dss"])
def test_int16_audio_is_refused(layer):
    model = audio_model(layer)
    x = pcm()
    mask = np.ones(x.shape[:2], bool)
    for run in (lambda: model(x), lambda: model((x, mask)), lambda: model.predict(x, verbose=0),
                lambda: model.backbone(x), lambda: model.evaluate(x, np.zeros(2), verbose=0)):
        with pytest.raises(ValueError, match=INT_AUDIO):
            run()
    # Scaled as the message says, the same audio runs.
    assert np.all(np.isfinite(numpy(model(x.astype("float32") / 32768))))


def test_int16_audio_is_refused_inside_a_compiled_function():
    model = audio_model()
    with pytest.raises(ValueError, match=INT_AUDIO):
        compiled(model)(keras.ops.convert_to_tensor(pcm()))


def test_int16_audio_into_an_audio_preset_is_refused():
    model = zoo.load("fsdd_s5")
    assert "32768" in zoo.describe("fsdd_s5")["input"]["preprocessing"]
    with pytest.raises(ValueError, match=INT_AUDIO):
        model.predict(pcm(1, 800), verbose=0)


@pytest.mark.parametrize("bad", [10, 25, -1])
def test_token_ids_outside_the_vocabulary_are_refused(bad):
    model = token_model()
    ids = np.array([[1, 2, bad, 0], [3, 9, 0, 0]])
    label = np.array([0, 1])
    message = OUT_OF_VOCAB.format(bad)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for run in (lambda: model(ids), lambda: model.backbone(ids), lambda: model.predict(ids, verbose=0),
                lambda: model.evaluate(ids, label, verbose=0), lambda: model.fit(ids, label, verbose=0)):
        with pytest.raises(ValueError, match=message):
            run()


def test_the_largest_id_of_the_vocabulary_runs():
    model = token_model("s5")
    ids = np.array([[1, 9, 9, 0]])
    assert np.all(np.isfinite(numpy(model(ids))))
    assert np.all(np.isfinite(model.predict(ids, verbose=0)))
    assert np.all(np.isfinite(numpy(model(keras.ops.convert_to_tensor(ids)))))


def test_eager_tensors_of_token_ids_are_checked():
    model = token_model("dss")
    with pytest.raises(ValueError, match=OUT_OF_VOCAB.format(12)):
        model(keras.ops.convert_to_tensor(np.array([[1, 12]], "int32")))


def test_token_ids_inside_a_compiled_function_are_not_checked():
    # Documented limit: a traced function does not know the ids' values
    # (fit / evaluate / predict check array data before they compile).
    if keras.backend.backend() == "torch":
        pytest.skip("compiling a whole model with torch.compile takes ~30 s here")
    model = token_model()
    assert tuple(compiled(model)(np.array([[1, 2, 3, 0]], "int32")).shape) == (1, 3)


def test_retrieval_checks_both_documents():
    backbone = SSMBackbone("s4d", depth=1, width=8, vocab_size=10, layer_kwargs={"state_dim": 4})
    model = SSMRetrievalClassifier(backbone)
    good, bad = np.array([[1, 2, 0]]), np.array([[1, 11, 0]])
    assert tuple(model((good, good)).shape) == (1, 2)
    with pytest.raises(ValueError, match=OUT_OF_VOCAB.format(11)):
        model.predict((good, bad), verbose=0)
