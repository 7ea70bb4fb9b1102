"""ListOps (LRA): the tokens and trees (`tokens.py`), the tree generator
(`generator.py`), the loader (`loader.py`) and the generator's command line
(`cli.py`, `python -m keras_ssm.data.listops --out DIR`)."""

from keras_ssm.data.listops.cli import main
from keras_ssm.data.listops.generator import generate, write_dataset
from keras_ssm.data.listops.loader import EXPECTED_LAYOUT, WHERE, load_listops, read_tsv
from keras_ssm.data.listops.tokens import (
    CLOSE,
    EOS_ID,
    LABELS,
    OPERATORS,
    PAD_ID,
    TOKEN_IDS,
    UNK_ID,
    UNUSED_OPERATORS,
    VOCAB,
    VOCAB_SIZE,
    decode,
    encode,
    evaluate,
    num_tokens,
    parse,
    serialize,
    tokenize,
)

__all__ = [
    "CLOSE", "EOS_ID", "EXPECTED_LAYOUT", "LABELS", "OPERATORS", "PAD_ID", "TOKEN_IDS", "UNK_ID",
    "UNUSED_OPERATORS", "VOCAB", "VOCAB_SIZE", "WHERE", "decode", "encode", "evaluate", "generate", "load_listops",
    "main", "num_tokens", "parse", "read_tsv", "serialize", "tokenize", "write_dataset",
]
