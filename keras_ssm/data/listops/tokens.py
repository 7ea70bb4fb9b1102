"""ListOps tokens: the fixed vocabulary, the tokenizer and the trees.

An example is a nested expression of list operators on digits, e.g.
`[MAX 2 9 [MIN 4 7 ] 0 ]`; the label is its value, 0-9 (10 classes).

- `MIN`, `MAX`: minimum, maximum of the arguments;
- `MED`: median (numpy-style: mean of the two middle values for an even
  count), truncated to an integer;
- `SM`: sum modulo 10.

Vocabulary (fixed, so ids never depend on the data; 18 ids, like S4's):

    0 <pad>   1 <unk>   2 <eos>   3..12 the digits 0..9
    13 [MIN   14 [MAX   15 [MED   16 [SM   17 ]

Tokens the LRA release never uses (`[FIRST`, `[LAST`) map to `<unk>`.
"""

import re

import numpy as np

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
CLOSE = "]"
VOCAB = ("<pad>", "<unk>", "<eos>") + tuple(str(d) for d in range(10)) + OPERATORS + (CLOSE,)
TOKEN_IDS = {token: i for i, token in enumerate(VOCAB)}
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2
VOCAB_SIZE = len(VOCAB)
LABELS = tuple(str(d) for d in range(10))
UNUSED_OPERATORS = ("[FIRST", "[LAST")

_TOKEN_RE = re.compile(r"\[[A-Z]+|\]|\d+|\S+")


def tokenize(source):
    """Splits a `Source` string into tokens, dropping the parentheses (as LRA does).

    >>> tokenize("( ( ( [MAX 2 ) 9 ) ] )")
    ['[MAX', '2', '9', ']']
    """
    return _TOKEN_RE.findall(source.replace("(", " ").replace(")", " "))


def encode(source, append_eos=False):
    """Token ids (int32 `(length,)`) of a `Source` string; ids are `VOCAB` positions.

    >>> encode("( ( ( [MAX 2 ) 9 ) ] )").tolist()
    [14, 5, 12, 17]
    """
    ids = [TOKEN_IDS.get(t, UNK_ID) for t in tokenize(source)]
    if append_eos:
        ids.append(EOS_ID)
    return np.asarray(ids, np.int32)


def decode(ids):
    """Tokens of an id sequence, padding dropped: the inverse of `encode`.

    >>> decode([14, 5, 12, 17, 0, 0])
    ['[MAX', '2', '9', ']']
    """
    return [VOCAB[int(i)] for i in ids if int(i) != PAD_ID]


# Fast encoding of whole files: each token becomes one character, and a
# 256-entry table maps characters to ids (C speed instead of a dict lookup
# per token; ~100M tokens for the LRA training file).
_CHAR_OF = {"[MIN": "a", "[MAX": "b", "[MED": "c", "[SM": "d", "[FIRST": "e", "[LAST": "f"}
_DELETE = str.maketrans("", "", "() \t\n\r")
_MULTI_DIGIT = re.compile(r"\d\d")
_LUT = np.full(256, 255, np.uint8)
for _d in range(10):
    _LUT[ord(str(_d))] = TOKEN_IDS[str(_d)]
for _op, _ch in _CHAR_OF.items():
    _LUT[ord(_ch)] = TOKEN_IDS.get(_op, UNK_ID)
_LUT[ord("]")] = TOKEN_IDS[CLOSE]


def _encode_fast(source):
    """Like `encode` for well-formed LRA strings (uint8 ids); None if anything is unusual."""
    if _MULTI_DIGIT.search(source):
        return None
    text = source
    for op, ch in _CHAR_OF.items():
        text = text.replace(op, ch)
    text = text.translate(_DELETE)
    ids = _LUT[np.frombuffer(text.encode("ascii", "replace"), np.uint8)]
    return None if (ids == 255).any() else ids


def parse(tokens):
    """The tree of a token list: a digit is an int, an operator node `(op, [children])`.

    >>> parse(tokenize("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )"))
    ('[SM', [1, ('[MIN', [4, 7])])
    """
    tokens = [t for t in tokens if t not in ("<pad>", "<eos>")]
    stack = [("root", [])]
    for token in tokens:
        if token.startswith("["):
            stack.append((token, []))
        elif token == CLOSE:
            if len(stack) < 2:
                raise ValueError("unbalanced `]` in the expression.")
            node = stack.pop()
            stack[-1][1].append(node)
        elif token.isdigit() and len(token) == 1:
            stack[-1][1].append(int(token))
        else:
            raise ValueError(f"unknown ListOps token {token!r}.")
    if len(stack) != 1 or len(stack[0][1]) != 1:
        raise ValueError("the expression is not a single well-formed tree.")
    return stack[0][1][0]


def _apply(op, values):
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        values = sorted(values)
        k = len(values)
        # numpy median, then truncation: values are >= 0, so floor.
        return values[k // 2] if k % 2 else (values[k // 2 - 1] + values[k // 2]) // 2
    if op == "[SM":
        return sum(values) % 10
    if op == "[FIRST":
        return values[0]
    if op == "[LAST":
        return values[-1]
    raise ValueError(f"unknown operator {op!r}.")


def evaluate(tree):
    """The value (0-9) of a tree, or of a `Source` string.

    >>> evaluate("( ( ( [SM 1 ) ( ( ( [MIN 4 ) 7 ) ] ) ) ] )")
    5
    >>> evaluate(('[MED', [3, 4]))
    3
    """
    if isinstance(tree, str):
        tree = parse(tokenize(tree))
    if isinstance(tree, int):
        return tree
    op, children = tree
    return _apply(op, [evaluate(c) for c in children])


def serialize(tree):
    """The LRA `Source` string of a tree (inverse of `parse(tokenize(...))`).

    >>> serialize(('[MAX', [2, 9]))
    '( ( ( [MAX 2 ) 9 ) ] )'
    """
    if isinstance(tree, int):
        return str(tree)
    op, children = tree
    # pair(pair(pair(op, c1), c2), ..., "]"): k + 1 opening parentheses.
    return "( " * (len(children) + 1) + op + " " + " ) ".join(map(serialize, children)) + " ) ] )"


def num_tokens(tree):
    """Length of a tree in tokens (operators, digits and `]`).

    >>> tree = ('[MAX', [2, ('[MIN', [4, 7])])
    >>> num_tokens(tree), len(tokenize(serialize(tree)))
    (7, 7)
    """
    if isinstance(tree, int):
        return 1
    return 2 + sum(num_tokens(c) for c in tree[1])
