"""Text presets carry their preprocessor: `predict` on strings equals
`predict` on the ids the training data code path (`keras_ssm.data`) makes
of the same strings; ids keep working as before."""

import csv
import itertools
import json
import os

import numpy as np
import pytest

from keras_ssm import data as data_lib
from keras_ssm import zoo
from keras_ssm.data.base import concatenated_records
from keras_ssm.data.text import encode_bytes
from keras_ssm.models import ByteTokenizer, ListOpsTokenizer, SSMClassifier
from tests.zoo.conftest import rewrite_metadata

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data")


def loader_ids(task, folder, indices, **options):
    """The unpadded test ids of examples `indices`, as the training loader makes them."""
    test = data_lib.load(task, os.path.join(ROOT, folder), batch_size=1, **options).test  # never shuffled
    examples = [np.asarray(x)[0] for x, _ in itertools.islice(test, max(indices) + 1)]
    return [examples[i][examples[i] > 0] for i in indices]


def reviews(indices):
    with np.load(os.path.join(ROOT, "imdb_test", "test.npz")) as z:
        texts = [r.tobytes().decode("utf-8") for r in concatenated_records(z, "text_bytes")]
    return [texts[i] for i in indices]


def expressions(indices):
    with open(os.path.join(ROOT, "listops_test", "basic_test.tsv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [rows[i]["Source"] for i in indices]


def padded(rows):
    batch = np.zeros((len(rows), max(map(len, rows))), "int32")
    for row, ids in zip(batch, rows):
        row[: len(ids)] = ids
    return batch


# A short review and one of 5,758 bytes (truncated to 4,096, as in training);
# ListOps trees of 599 and 1,575 tokens.
CASES = {
    "lra_text_s4d": (ByteTokenizer, lambda: reviews([1, 7]), lambda: loader_ids("text", "imdb_test", [1, 7])),
    "lra_listops_s5": (ListOpsTokenizer, lambda: expressions([2, 0]),
                       lambda: loader_ids("listops", "listops_test", [2, 0], max_length=2048)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_predicting_text_equals_predicting_the_training_ids(name):
    cls, texts, ids = CASES[name]
    model = zoo.load(name)
    assert isinstance(model.preprocessor, cls)
    texts, ids = texts(), ids()
    for text, expected in zip(texts, ids):
        np.testing.assert_array_equal(model.preprocessor([text])[0], expected)
    by_ids = model.predict(padded(ids), verbose=0)
    np.testing.assert_allclose(model.predict(texts, verbose=0), by_ids, rtol=1e-6, atol=1e-6)
    assert by_ids.shape == (2, len(zoo.describe(name)["labels"]))


def test_the_readme_sentences():
    text = zoo.load("lra_text_s4d")
    review = "A quiet, moving film."
    np.testing.assert_allclose(text.predict([review], verbose=0), text.predict(encode_bytes(review)[None], verbose=0),
                               rtol=1e-6, atol=1e-6)
    listops = zoo.load("lra_listops_s5")
    expression = "[MAX 2 9 [MIN 4 7 ] 0 ]"
    ids = data_lib.listops.encode(expression)[None]
    np.testing.assert_allclose(listops.predict([expression], verbose=0), listops.predict(ids, verbose=0),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['hello'\]"):
        listops.predict(["[MAX 2 hello ]"])


def test_new_head_and_backbone_from_a_text_preset():
    model = SSMClassifier.from_preset("lra_text_s4d", num_classes=3)
    assert isinstance(model.preprocessor, ByteTokenizer) and model.preprocessor.sequence_length == 4096
    assert model.predict(["Fine."], verbose=0).shape == (1, 3)


def test_audio_presets_have_none_and_refuse_text(saved):
    model = zoo.load(saved[0])
    assert model.preprocessor is None
    with pytest.raises(ValueError, match="`x` holds text, but this model has no `preprocessor`"):
        model.predict(["a sound"])


def test_a_bad_preprocessor_in_metadata_is_refused_before_building(preset, no_build):
    folder = preset
    metadata = json.loads((folder / "metadata.json").read_text())
    for spec in ({"module": "os", "class_name": "system", "config": {}, "registered_name": "system"},
                 {"class_name": "SSMClassifier", "config": {}, "registered_name": "keras_ssm>SSMClassifier"},
                 "bytes"):
        rewrite_metadata(folder, input={**metadata["input"], "preprocessor": spec})
        with pytest.raises(zoo.PresetError, match="`input.preprocessor` must be a serialized keras_ssm preprocessor"):
            zoo.load(folder)
