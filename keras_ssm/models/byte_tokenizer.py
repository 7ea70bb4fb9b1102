"""Byte-level text (LRA Text, byte-level IMDB): token id = UTF-8 byte + 1."""

import keras

from keras_ssm.data.text import encode_bytes
from keras_ssm.models.preprocessor import SSMPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class ByteTokenizer(SSMPreprocessor):
    """Text to byte-level token ids, as `keras_ssm.data.text` encodes the
    training data: the UTF-8 bytes of a string (bytes as they are), token
    id = byte + 1 (ids 1 to 256, 0 is padding: `vocab_size` 257), the first
    `sequence_length` bytes of a longer text. Returns int32 `(batch,
    length)`, right-padded with 0 (see `SSMPreprocessor`).

    Args:
        sequence_length: the most bytes of a text (the preset's
            `max_length`, 4,096 for LRA Text); None: no limit.

    Example:
    >>> tokenizer = ByteTokenizer(sequence_length=4)
    >>> tokenizer(["Hi!", "A quiet film"]).tolist()
    [[73, 106, 34, 0], [66, 33, 114, 118]]
    """

    def tokenize(self, text):
        return encode_bytes(text)
