import keras
import numpy as np
import pytest

from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier
from tests.layer_test_case import check_other_backends, numpy

CAUSAL = {
    "s4d": {"state_dim": 8},
    "dss_exp": {"state_dim": 8, "variant": "exp"},
    "s5": {"state_dim": 8, "blocks": 2},
}


def tokens(length=30, seed=0):
    x = np.random.default_rng(seed).integers(1, 20, (3, length)).astype("int32")
    x[1, length // 2 :] = 0  # a padded example
    return x


def classifier(name, pooling="mean", **backbone_kwargs):
    layer = name.split("_")[0]
    backbone = SSMBackbone(layer, depth=2, width=16, vocab_size=20, layer_kwargs=CAUSAL[name], **backbone_kwargs)
    return SSMClassifier(backbone, num_classes=4, pooling=pooling)


@pytest.mark.parametrize("pooling", ["mean", "last"])
@pytest.mark.parametrize("name", sorted(CAUSAL))
def test_model_streaming_equals_full_pass(name, pooling):
    keras.utils.set_random_seed(0)
    model = classifier(name, pooling)
    x = tokens()
    state = model.get_initial_state(3)
    for k in range(x.shape[1]):
        logits, state = model.step(x[:, k], state)
        if k in (9, x.shape[1] - 1):
            full = numpy(model(x[[0, 2], : k + 1]))
            np.testing.assert_allclose(numpy(logits)[[0, 2]], full, atol=1e-5)


def test_token_stream_by_chunks_equals_full_pass():
    from keras_ssm.models.streaming import ClassifierStream

    keras.utils.set_random_seed(0)
    model = classifier("s4d")
    x = tokens()[[0, 2]]
    stream = ClassifierStream(model, chunk_size=7, batch_size=2)
    for start in range(0, 28, 7):
        logits = stream(x[:, start : start + 7])
    np.testing.assert_allclose(logits, numpy(model(x[:, :28])), atol=1e-5)
    np.testing.assert_allclose(stream.finish(x[:, 28:]), numpy(model(x)), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(2, 7\)"):
        stream(x[:, :7, None])


def test_a_bidirectional_model_is_refused_by_the_stream():
    from keras_ssm.models.streaming import ClassifierStream

    backbone = SSMBackbone("s5", depth=1, width=8, vocab_size=20, layer_kwargs={"state_dim": 4, "bidirectional": True})
    with pytest.raises(ValueError, match="`model`: ClassifierStream needs a causal model"):
        ClassifierStream(SSMClassifier(backbone, num_classes=2), chunk_size=4)


def test_padding_does_not_change_predictions():
    model = classifier("s5", activation="half_glu2", norm="layer")
    x = tokens()
    np.testing.assert_allclose(numpy(model(x[1:2, :15])), numpy(model(x[1:2])), atol=1e-5)


@pytest.mark.parametrize("name", sorted(CAUSAL))
def test_save_reload_and_other_backends(name, tmp_path):
    model = classifier(name)
    x = tokens()
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), atol=1e-6)
    check_other_backends(model, x, tmp_path)


def test_retrieval_model_round_trip(tmp_path):
    backbone = SSMBackbone("s4d", depth=1, width=16, vocab_size=20, layer_kwargs={"state_dim": 8, "bidirectional": True})
    model = SSMRetrievalClassifier(backbone)
    pair = (tokens(), tokens(seed=1))
    path = str(tmp_path / "retrieval.keras")
    model.save(path)
    np.testing.assert_allclose(numpy(keras.saving.load_model(path)(pair)), numpy(model(pair)), atol=1e-6)
    swapped = numpy(model((pair[1], pair[0])))
    assert swapped.shape == (3, 2)


def test_continuous_inputs_and_bad_arguments():
    backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 8})
    assert numpy(SSMClassifier(backbone, 3)(np.zeros((2, 50, 1), "float32"))).shape == (2, 3)
    with pytest.raises(ValueError, match="vocab_size"):
        SSMBackbone("s5", vocab_size=10, input_dim=3)
    with pytest.raises(ValueError, match="vocab_size"):
        SSMRetrievalClassifier(backbone)


def test_classifier_learns_first_token_recall():
    # The label is the first token; 511 distractor tokens follow (L = 512).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 512)
    x = rng.integers(5, 9, (512, 512)).astype("int32")
    x[:, 0] = y + 1
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone(
        "s4d", depth=2, width=32, vocab_size=10, layer_kwargs={"state_dim": 32}, norm="layer", activation="gelu"
    )
    model = SSMClassifier(backbone, num_classes=4, pooling="last")
    model.compile(
        keras.optimizers.Adam(5e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    model.fit(x[:384], y[:384], batch_size=32, epochs=10, verbose=0)
    accuracy = model.evaluate(x[384:], y[384:], verbose=0)[1]
    assert accuracy > 0.5, accuracy  # chance is 0.25
