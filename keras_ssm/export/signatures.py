"""The functions an export holds: the sequence form and the streaming form.

Both are `tf.function`s over a model in real arithmetic, traced once at fixed
lengths, with named inputs and a dict of named outputs:

- sequence: `inputs` `(batch, length, features)` float32 (or `tokens`
  `(batch, length)` int32) and, when the model takes one, `padding_mask`
  `(batch, length)` bool → `logits` (classifiers) or `outputs`;
- streaming (causal `SSMClassifier`s): `inputs` `(batch, chunk, features)`,
  the state and `valid` `(batch,)` int32 → `logits` of everything streamed
  so far and `next_<state>` for each state tensor: `block_<i>` (block i's SSM
  state, real and imaginary parts on the last axis), `frontend` (a log-mel
  front end's last samples, if any), `pool_sum`, `pool_count`, `pool_last`
  (the running pooling). A runtime starts from zeros and feeds each `next_`
  back. `valid` is the number of the chunk's samples that are input: the
  whole chunk (its default), except for the last chunk of a stream that
  does not fill it (zero-padded after them): the logits are then those of
  the full pass over the stream, which ends there — as
  `ClassifierStream.finish` — and its `next_` state continues nothing.
"""


from keras_ssm.export.real_arithmetic import real_arithmetic
from keras_ssm.export.sequence_chunks import SEQUENCE_CHUNK, chunked_sequence
from keras_ssm.layers.base import ssm_layers
from keras_ssm.validation import check_positive_int


def _tf():
    import tensorflow as tf

    return tf


class Signature:
    """A traced export function with its named input and output specs.

    Attributes:
        function: the `tf.function` (positional inputs in `inputs` order).
        variables: the `tf.Variable`s it reads.
        inputs: `[(name, shape, dtype)]`, `None` for a free batch axis.
        outputs: output names.
        state: `[(name, shape)]` of the streaming state (empty for sequences).
        form: `"sequence"` or `"streaming"`.
        length: the fixed length (sequence) or chunk size (streaming).
        defaults: `{input name: value}` of the inputs a caller may leave out.
        sequence_chunk: the sequence form's chunk (`sequence_signature`).
    """

    def __init__(self, model, function, inputs, outputs, state, form, length, defaults=None,
                 sequence_chunk=None):
        self.function, self.inputs, self.outputs = function, inputs, outputs
        self.state, self.form, self.length = state, form, length
        self.defaults = defaults or {}
        self.sequence_chunk = sequence_chunk
        # The TensorFlow variables the function reads (a SavedModel tracks them).
        self.variables = [v.value for v in model.variables]

    @property
    def input_signature(self):
        tf = _tf()
        return [tf.TensorSpec(shape, dtype, name=name) for name, shape, dtype in self.inputs]

    def describe(self):
        """A JSON-ready description (the export's sidecar file)."""
        return {
            "form": self.form,
            "length" if self.form == "sequence" else "chunk_size": self.length,
            **({"sequence_chunk": self.sequence_chunk} if self.form == "sequence" else {}),
            "inputs": [{"name": n, "shape": list(s), "dtype": d,
                        **({"default": self.defaults[n]} if n in self.defaults else {})}
                       for n, s, d in self.inputs],
            "outputs": list(self.outputs),
            "state": [{"name": n, "shape": list(s), "initial": "zeros"} for n, s in self.state],
        }


def _is_classifier(model):
    return hasattr(model, "backbone") and hasattr(model, "chunk")


def _continuous(model):
    backbone = getattr(model, "backbone", model)
    return getattr(backbone, "input_dim", None)


def _check_length(name, value):
    check_positive_int(name, value)
    return int(value)


def _has_softmax_dss(model):
    return any(getattr(layer, "variant", None) == "softmax" for layer in ssm_layers(model))


def dropped_mask_warning(model, mask=None):
    """The warning for a sequence export that leaves out the padding mask
    the model takes (DSS-softmax, by default), or None.

    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> backbone = SSMBackbone("dss", depth=1, width=4, input_dim=1,
    ...                        layer_kwargs={"state_dim": 4, "variant": "softmax"})
    >>> dropped_mask_warning(SSMClassifier(backbone, num_classes=2))[:22]
    '`padding_mask` dropped'
    >>> dropped_mask_warning(SSMClassifier(backbone, num_classes=2), mask=False) is None
    True
    """
    takes_mask = _continuous(model) is not None and len(model.inputs) == 2
    if mask is not None or not takes_mask or not _has_softmax_dss(model):
        return None
    return (
        "`padding_mask` dropped: the model's DSS-softmax layers normalise each example over its own "
        "length, which an export cannot hold, so this export takes no padding mask and every input "
        "must be exactly `length` samples long; a shorter input zero-padded to `length` gives other "
        "logits than the Keras model with a mask. Export at the length of the inputs the deployment "
        "feeds (one export per length), or train with variant='exp', which exports with a mask."
    )


def sequence_inputs(model, length, mask=None, batch_size=None):
    """`(inputs, output)` of the sequence form: `[(name, shape, dtype)]` and
    the output's name (see `sequence_signature`)."""
    length = _check_length("length", length)
    output = "logits" if _is_classifier(model) else "outputs"
    features = _continuous(model)
    takes_mask = features is not None and len(model.inputs) == 2
    if mask is None:
        mask = takes_mask and not _has_softmax_dss(model)
    if mask and not takes_mask:
        raise ValueError("`mask`: this model takes no padding mask.")
    if features is not None:
        inputs = [("inputs", (batch_size, length, features), "float32")]
    elif getattr(getattr(model, "backbone", model), "vocab_size", None) is not None:
        inputs = [("tokens", (batch_size, length), "int32")]
    else:
        shape = tuple(model.inputs[0].shape)
        if len(model.inputs) != 1 or len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                "Export takes models with one `(batch, length, features)` input, or keras_ssm "
                f"backbones and classifiers; got inputs {[tuple(i.shape) for i in model.inputs]}."
            )
        inputs = [("inputs", (batch_size, length, shape[-1]), "float32")]
    if mask:
        inputs.append(("padding_mask", (batch_size, length), "bool"))
    return inputs, output


def sequence_signature(model, length, mask=None, batch_size=None, sequence_chunk=SEQUENCE_CHUNK):
    """The sequence form of `model` at a fixed `length`.

    Args:
        model: a Keras model holding keras_ssm layers (a preset's classifier,
            a backbone, a `keras.Sequential`).
        length: the input length (kernels are computed for it).
        mask: include the `padding_mask` input (default: when the model takes
            one, except with DSS-softmax, whose masked kernel is not constant).
        batch_size: a fixed batch size, or None for any.
        sequence_chunk: steps per chunk of the causal SSM layers whose
            input is long enough for chunks to pay, in time linear in the
            length (`keras_ssm.export.sequence_chunks`); None: whole-length
            convolutions.
    """
    if sequence_chunk is not None:
        sequence_chunk = _check_length("sequence_chunk", sequence_chunk)
    inputs, output = sequence_inputs(model, length, mask, batch_size)
    features = _continuous(model)
    tf = _tf()

    def run(*args):
        x = list(args) if len(args) > 1 else (args[0] if features is None else [args[0], None])
        with real_arithmetic(model), chunked_sequence(model, sequence_chunk):
            return {output: model(x, training=False)}

    specs = [tf.TensorSpec(s, d, name=n) for n, s, d in inputs]
    function = tf.function(run, input_signature=specs, autograph=False)
    return Signature(model, function, inputs, [output], [], "sequence", inputs[0][1][1],
                     sequence_chunk=sequence_chunk)


def _state_leaves(state):
    """`[(name, tensor)]` of a classifier's chunk state (frame phases are 0)."""
    leaves = [(f"block_{i}", s) for i, s in enumerate(state["backbone"]["blocks"])]
    if "frontend" in state["backbone"]:  # the last samples of a log-mel front end
        leaves.append(("frontend", state["backbone"]["frontend"]))
    return leaves + [("pool_sum", state["sum"]), ("pool_count", state["count"]), ("pool_last", state["last"])]


def streaming_signature(model, chunk_size, batch_size=1):
    """The streaming form of a causal `SSMClassifier`: one chunk of
    `chunk_size` samples (a multiple of the backbone's stride: its front end's
    hop times its pooling), the state and the chunk's `valid` samples in,
    the logits so far and the next state out (see the module's docstring)."""
    if not _is_classifier(model):
        raise ValueError(
            f"The streaming form exports an SSMClassifier (its `chunk`); got {type(model).__name__}. "
            "Export the sequence form instead (no `--streaming`)."
        )
    chunk_size = _check_length("chunk_size", chunk_size)
    backbone = model.backbone
    if any(layer.bidirectional for layer in ssm_layers(model)):
        raise ValueError("The streaming form needs a causal model: this one has bidirectional layers.")
    if chunk_size % backbone.stride:
        raise ValueError(
            f"`chunk_size` ({chunk_size}) must be a multiple of the model's stride ({backbone.stride}, "
            f"its front end's hop times its `pool`), e.g. {backbone.stride * max(1, round(chunk_size / backbone.stride))}."
        )
    features = _continuous(model)
    with real_arithmetic(model):
        template = model.get_initial_state(batch_size)
    frames = template["backbone"]["frames"]
    leaves = _state_leaves(template)
    state = [(name, (batch_size, *tuple(value.shape)[1:])) for name, value in leaves]
    if features is not None:
        inputs = [("inputs", (batch_size, chunk_size, features), "float32")]
    else:
        inputs = [("tokens", (batch_size, chunk_size), "int32")]
    inputs += [(name, shape, "float32") for name, shape in state]
    inputs.append(("valid", (batch_size,), "int32"))
    tf = _tf()

    names, depth = [name for name, _ in state], len(template["backbone"]["blocks"])

    def run(x, *values):
        *values, valid = values
        # The samples past `valid` are padding: masked, they feed nothing and
        # count in no frame, so the logits are the full pass over the samples
        # given (a right-padded full pass equals the unpadded one).
        mask = tf.range(chunk_size, dtype=tf.int32)[None, :] < valid[:, None]
        named = dict(zip(names, values))
        inner = {"blocks": [named[f"block_{i}"] for i in range(depth)], "frames": frames}
        if "frontend" in named:
            inner["frontend"] = named["frontend"]
        full = {"backbone": inner, "sum": named["pool_sum"], "count": named["pool_count"], "last": named["pool_last"]}
        with real_arithmetic(model):
            logits, new_state = model.chunk(x, full, mask=mask)
        return {"logits": logits, **{f"next_{name}": value for name, value in _state_leaves(new_state)}}

    specs = [tf.TensorSpec(s, d, name=n) for n, s, d in inputs]
    function = tf.function(run, input_signature=specs, autograph=False)
    outputs = ["logits"] + [f"next_{name}" for name, _ in state]
    return Signature(model, function, inputs, outputs, state, "streaming", chunk_size,
                     defaults={"valid": chunk_size})
