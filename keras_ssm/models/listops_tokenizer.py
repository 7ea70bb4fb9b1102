"""ListOps expressions to the ids of `keras_ssm.data.listops` (LRA ListOps)."""

import keras

from keras_ssm.data.listops.tokens import TOKEN_IDS, encode, tokenize
from keras_ssm.models.preprocessor import SSMPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class ListOpsTokenizer(SSMPreprocessor):
    """ListOps expressions to token ids, as `keras_ssm.data.listops`
    encodes the training data: one id per operator, digit and `]`
    (`keras_ssm.data.listops.VOCAB`: 3 to 12 the digits, 13 `[MIN`, 14
    `[MAX`, 15 `[MED`, 16 `[SM`, 17 `]`; 0 is padding), parentheses dropped
    (the LRA TSV's `Source` form is accepted too), the first
    `sequence_length` tokens of a longer one. Returns int32 `(batch,
    length)`, right-padded with 0 (see `SSMPreprocessor`).

    A token outside the vocabulary (a word, a number above 9) raises a
    ValueError: the model never saw one in training.

    Args:
        sequence_length: the most tokens of an expression (the preset's
            `max_length`, 2,048 for LRA ListOps); None: no limit.

    Example:
    >>> tokenizer = ListOpsTokenizer(sequence_length=2048)
    >>> tokenizer(["[MAX 2 9 [MIN 4 7 ] 0 ]"]).tolist()
    [[14, 5, 12, 13, 7, 10, 17, 3, 17]]
    """

    def tokenize(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        unknown = sorted({t for t in tokenize(text) if t not in TOKEN_IDS})
        if unknown:
            raise ValueError(
                f"The ListOps expression {text[:60]!r} holds tokens outside the vocabulary: {unknown}. "
                "Write it with [MIN, [MAX, [MED, [SM, the digits 0 to 9 and ], separated by spaces, "
                "e.g. '[MAX 2 9 [MIN 4 7 ] 0 ]'."
            )
        return encode(text)
