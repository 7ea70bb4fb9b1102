"""The preprocessors a task carries (keras-hub's `Task.preprocessor`): the
ids they make, and the task saving, loading and re-targeting with one."""

import keras
import numpy as np
import pytest

from keras_ssm.data import listops
from keras_ssm.data.text import encode_bytes
from keras_ssm.models import ByteTokenizer, ListOpsTokenizer, SSMBackbone, SSMClassifier
from tests.layer_test_case import numpy


def text_model(preprocessor=None):
    keras.utils.set_random_seed(0)
    backbone = SSMBackbone("s4d", depth=1, width=8, vocab_size=257, layer_kwargs={"state_dim": 4})
    return SSMClassifier(backbone, num_classes=2, preprocessor=preprocessor)


def test_byte_ids_are_the_training_ids():
    texts = ["A quiet, moving film.", "Été<br />", b"\x00\xff"]
    ids = ByteTokenizer(sequence_length=8)(texts)
    assert ids.dtype == np.int32 and ids.shape == (3, 8)
    for row, text in zip(ids, texts):
        expected = encode_bytes(text, 8)
        np.testing.assert_array_equal(row[: len(expected)], expected)
        assert not row[len(expected):].any()  # padding
    np.testing.assert_array_equal(ByteTokenizer()("Hi!"), [[73, 106, 34]])  # a lone string: a batch of one


def test_listops_ids_are_the_training_ids():
    lra = "( ( ( [MAX 2 ) 9 ) ( ( [SM 4 ) 7 ) ] ) ] )"  # the TSV's Source form
    plain = "[MAX 2 9 [SM 4 7 ] ]"
    ids = ListOpsTokenizer(sequence_length=5)([lra, plain])
    np.testing.assert_array_equal(ids[0], listops.encode(lra)[:5])
    np.testing.assert_array_equal(ids[0], ids[1])
    for bad in ["[MAX 2 10 ]", "[FIRST 2 ]", "2 + 3"]:
        with pytest.raises(ValueError, match="outside the vocabulary"):
            ListOpsTokenizer()([bad])


def test_bad_preprocessor_arguments_and_inputs():
    with pytest.raises(ValueError, match="`sequence_length` must be a positive int or None"):
        ByteTokenizer(sequence_length=0)
    with pytest.raises(ValueError, match=r"`inputs\[1\]` is empty"):
        ByteTokenizer()(["fine", ""])
    with pytest.raises(ValueError, match="`inputs` must be a string or a list of strings"):
        ByteTokenizer()(np.array([[3, 4]]))
    with pytest.raises(ValueError, match="`preprocessor` must be None or a keras_ssm SSMPreprocessor"):
        text_model(preprocessor=encode_bytes)


def test_predict_takes_text_and_ids_as_before(tmp_path):
    model = text_model(ByteTokenizer(sequence_length=16))
    texts = ["A quiet, moving film.", "Dull."]
    ids = ByteTokenizer(sequence_length=16)(texts)
    np.testing.assert_array_equal(model.predict(texts, verbose=0), model.predict(ids, verbose=0))
    np.testing.assert_array_equal(model.predict(np.array(texts), verbose=0), model.predict(ids, verbose=0))
    bare = text_model()
    np.testing.assert_array_equal(bare.predict(ids, verbose=0), model.predict(ids, verbose=0))
    assert "preprocessor" not in bare.get_config()  # configs without one stay as they were
    # Saved, loaded and re-targeted with its preprocessor.
    path = str(tmp_path / "text.keras")
    model.save(path)
    for new in (keras.saving.load_model(path, safe_mode=True), model.retarget(2.0)):
        assert isinstance(new.preprocessor, ByteTokenizer) and new.preprocessor.sequence_length == 16
    np.testing.assert_allclose(numpy(keras.saving.load_model(path, safe_mode=True).predict(texts, verbose=0)),
                               model.predict(ids, verbose=0), atol=1e-6)
