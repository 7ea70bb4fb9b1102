"""Self-pretraining of an `SSMBackbone` on its task's own inputs.

Amos, Berant & Gupta, "Never Train from Scratch" (ICLR 2024): before the
classifier is trained, the backbone learns to reconstruct the inputs of the
training split (labels unused), then fine-tunes from there.

- Bidirectional backbones: masked reconstruction. A fraction `mask_ratio`
  of the valid steps (each drawn independently) is replaced — token ids by
  a reserved mask id, continuous values by zeros — and a `Dense` head on the
  backbone's sequence output predicts the original input at those steps
  only: cross-entropy over the vocabulary for tokens, mean squared error of
  the values for continuous inputs.
- Causal backbones: next-step prediction. The output at step t predicts the
  input at step t+1 (same losses), over the steps where both are valid.

A backbone that shortens the sequence (a front end's hop, `pool`) has one
output per `stride` input steps: the unit that is masked is then the block
of `stride` input steps an output step covers, and the head predicts all of
it. Audio backbones with a log-mel front end predict the front end's log-mel
frames of the original audio (the `stride / hop` frames of each output
step, mean squared error), not the raw samples: a waveform's phase is
unpredictable, its spectrum is not. A frame's window reaches `frame - hop`
samples back into the previous hop, which stays visible when only the
frame's own hop is masked: that part of the target is context, not the
hidden samples, which the model never sees. The front end is causal (frame
k ends at sample (k+1)·hop), so a next-step target (the frames of block
t+1) always holds samples after those output t has seen.

The reserved mask id: an `SSMBackbone`'s embedding treats id 0 as padding,
and a padded step feeds nothing to any state and gets no context, so id 0
cannot stand for a masked step. Masked pretraining of a token backbone runs
on a copy of it with one more embedding row (id `vocab_size`, the mask id);
`SSMPretrainer.pretrained_backbone()` gives the pretrained weights back in
the original backbone's shape (that row dropped), ready for fine-tuning.
"""

import keras
import numpy as np
from keras import ops

from keras_ssm.models.backbone import SSMBackbone

OBJECTIVES = ("masked", "next_step")

# The papers' masking ratios (Amos et al. 2024, section 3): 50 % of the pixels
# for visual tasks, 15 % of the tokens for text, 10 % for ListOps.
DEFAULT_MASK_RATIOS = {
    "listops": 0.1,
    "text": 0.15,
    "imdb": 0.15,
    "image": 0.5,
    "cifar10": 0.5,
    "pathfinder": 0.5,
    "pathfinder32": 0.5,
    "pathfinder64": 0.5,
    "pathfinder128": 0.5,
    "pathx": 0.5,
}


def is_bidirectional(backbone):
    """Whether `backbone`'s SSM layers see the future (all blocks share the setting).

    >>> def backbone(**layer_kwargs):
    ...     return SSMBackbone("s4d", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4, **layer_kwargs})
    >>> is_bidirectional(backbone(bidirectional=True)), is_bidirectional(backbone())
    (True, False)
    """
    return bool(backbone.layer_kwargs.get("bidirectional", False))


def default_objective(backbone):
    """`"masked"` for a bidirectional backbone, `"next_step"` for a causal one.

    >>> default_objective(SSMBackbone("s4d", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4}))
    'next_step'
    """
    return "masked" if is_bidirectional(backbone) else "next_step"


def check_mask_ratio(mask_ratio, name="mask_ratio"):
    """`mask_ratio` as a float; a `ValueError` naming `name` unless it is a
    number strictly between 0 and 1.

    >>> check_mask_ratio(0.15)
    0.15
    >>> check_mask_ratio(1, "pretrain.mask_ratio")
    Traceback (most recent call last):
    ...
    ValueError: `pretrain.mask_ratio` must be a number strictly between 0 and 1 (the fraction of steps masked), got 1.
    """
    if isinstance(mask_ratio, bool) or not isinstance(mask_ratio, (int, float)) or not 0 < mask_ratio < 1:
        raise ValueError(
            f"`{name}` must be a number strictly between 0 and 1 (the fraction of steps masked), "
            f"got {mask_ratio!r}."
        )
    return float(mask_ratio)


def input_spec(backbone):
    """A preset's `input` metadata for `backbone`: token ids `[None]` int32
    with their `vocab_size`, or `[None, input_dim]` float32 values, with the
    front end's `sample_rate` for audio.

    >>> input_spec(SSMBackbone("s5", depth=1, width=8, vocab_size=18))
    {'shape': [None], 'dtype': 'int32', 'vocab_size': 18}
    """
    if backbone.vocab_size is not None:
        return {"shape": [None], "dtype": "int32", "vocab_size": int(backbone.vocab_size)}
    spec = {"shape": [None, int(backbone.input_dim)], "dtype": "float32"}
    if backbone.frontend is not None:
        spec["sample_rate"] = backbone.frontend["sample_rate"]
    return spec


def copy_backbone_weights(source, target):
    """Sets `target`'s weights (an `SSMBackbone`) to `source`'s.

    Both must have the same architecture; a token `source` may have more
    embedding rows than `target` (the pretraining copy's mask id): the rows
    beyond `target.vocab_size` are dropped.

    >>> source = SSMBackbone("s4d", depth=1, width=8, vocab_size=13, layer_kwargs={"state_dim": 4})
    >>> target = SSMBackbone("s4d", depth=1, width=8, vocab_size=12, layer_kwargs={"state_dim": 4})
    >>> copy_backbone_weights(source, target)
    >>> rows = [ops.convert_to_numpy(b.encoder.embeddings) for b in (source, target)]
    >>> rows[0].shape, rows[1].shape, bool((rows[0][:12] == rows[1]).all())
    ((13, 8), (12, 8), True)
    """
    if len(source.weights) != len(target.weights):
        raise ValueError(
            f"`source` has {len(source.weights)} weights and `target` {len(target.weights)}: the "
            "backbones differ in architecture (build both from the same config)."
        )
    values = []
    for s, t in zip(source.weights, target.weights):
        value = ops.convert_to_numpy(s)
        if tuple(value.shape) != tuple(t.shape):
            if not (t is target.encoder.embeddings and value.shape[1:] == tuple(t.shape[1:])
                    and value.shape[0] >= t.shape[0]):
                raise ValueError(
                    f"Backbones differ: weight {s.path!r} has shape {tuple(value.shape)} in `source`, "
                    f"{tuple(t.shape)} in `target`."
                )
            value = value[: t.shape[0]]
        values.append(value)
    target.set_weights(values)


class SSMPretrainer(keras.Model):
    """A backbone and a `Dense` head trained to reconstruct the backbone's inputs.

    Train it with `fit` on the inputs alone (a dataset of `(inputs,)`, no
    labels); the loss is the objective's (see the module docstring), computed
    only at the steps it predicts: masked steps (`"masked"`) or steps whose
    next step is valid (`"next_step"`), padding excluded. Then
    `pretrained_backbone()` is the pretrained `SSMBackbone`, in the shape of
    the one given, to save or to copy into a classifier.

    Args:
        backbone: an `SSMBackbone` (token or continuous inputs, any layer,
            front end and `pool`). Its weights are the starting point; it is
            not modified.
        objective: `"masked"` or `"next_step"`; default: masked for a
            bidirectional backbone, next-step for a causal one. A causal
            backbone cannot be pretrained masked-wise without leaking
            nothing useful, and a bidirectional one sees step t+1, so each
            backbone takes its own objective only.
        mask_ratio: fraction of the valid steps masked (`"masked"` only);
            the papers use 0.5 for images, 0.15 for text, 0.1 for ListOps.
        seed: seed of the masks drawn.

    Call it on inputs (`tokens`, or `x` / `(x, padding_mask)`), optionally
    with `masked` `(batch, output_length)` bool (which output steps' blocks
    to mask; drawn at random when absent): it returns a dict with
    `"predictions"` (logits `(batch, T, stride, vocab)`, or values
    `(batch, T, units * size)`: `stride` steps of `input_dim`, or with a
    front end `stride / hop` frames of `num_mel_bins`), `"targets"` and
    `"weights"` (where the loss is computed, `(batch, T, units)`).

    Example:
    >>> import numpy as np
    >>> backbone = SSMBackbone("s4d", depth=1, width=16, vocab_size=12,
    ...                        layer_kwargs={"state_dim": 8, "bidirectional": True})
    >>> pretrainer = SSMPretrainer(backbone, mask_ratio=0.15, seed=0)
    >>> pretrainer.objective, pretrainer.mask_id
    ('masked', 12)
    >>> tokens = np.random.default_rng(0).integers(1, 12, (8, 20)).astype("int32")
    >>> pretrainer.compile(optimizer="adam")
    >>> history = pretrainer.fit(tokens, epochs=1, batch_size=4, verbose=0)
    >>> pretrained = pretrainer.pretrained_backbone()
    >>> pretrained.vocab_size, tuple(pretrained(tokens).shape)
    (12, (8, 20, 16))
    """

    def __init__(self, backbone, objective=None, mask_ratio=0.15, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, SSMBackbone):
            raise ValueError(f"`backbone` must be an SSMBackbone, got {type(backbone).__name__}.")
        objective = default_objective(backbone) if objective is None else objective
        if objective not in OBJECTIVES:
            raise ValueError(f"`objective` must be one of {list(OBJECTIVES)}, got {objective!r}.")
        if objective == "masked" and not is_bidirectional(backbone):
            raise ValueError(
                "`objective='masked'` needs a bidirectional backbone (layer_kwargs bidirectional=True): a "
                "causal backbone never sees the steps after a masked one. Use objective='next_step'."
            )
        if objective == "next_step" and is_bidirectional(backbone):
            raise ValueError(
                "`objective='next_step'` needs a causal backbone: a bidirectional one sees step t+1 "
                "when predicting it. Use objective='masked'."
            )
        self.objective = objective
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.task_config = backbone.get_config()
        self.tokens = backbone.vocab_size is not None
        self.stride = backbone.stride
        self.frames = backbone.frontend_layer is not None
        # Predicted units per output step: input steps, or the front end's frames.
        self.units_per_step = self.stride // backbone.frontend_layer.hop if self.frames else self.stride
        self.mask_id = backbone.vocab_size if self.tokens and objective == "masked" else None
        if self.mask_id is not None:
            # One more embedding row: the mask id (see the module docstring).
            self.backbone = SSMBackbone.from_config({**self.task_config, "vocab_size": backbone.vocab_size + 1})
            _widen_embedding(backbone, self.backbone)
        else:
            self.backbone = SSMBackbone.from_config(self.task_config)
            self.backbone.set_weights(backbone.get_weights())
        if self.tokens:
            unit_size = backbone.vocab_size
        else:
            unit_size = backbone.frontend_layer.num_mel_bins if self.frames else backbone.input_dim
        self.head = keras.layers.Dense(self.units_per_step * unit_size, name="reconstruction")
        self.seed_generator = keras.random.SeedGenerator(seed)

    # -- the objective ------------------------------------------------------

    def _split(self, inputs):
        """`(x, valid)`: the input and its `(batch, length)` bool valid steps."""
        if self.tokens:
            x = ops.convert_to_tensor(inputs, "int32")
            return x, ops.not_equal(x, 0)
        if isinstance(inputs, (list, tuple)):
            x, mask = inputs
        else:
            x, mask = inputs, None
        x = ops.convert_to_tensor(x, "float32")
        valid = ops.ones(ops.shape(x)[:2], "bool") if mask is None else ops.cast(mask, "bool")
        return x, valid

    def _blocks(self, tensor, size=None):
        """`(batch, length, ...)` → `(batch, T, size, ...)` (default size: `stride`),
        zero-padded to `T * size` steps."""
        size = self.stride if size is None else size
        length = ops.shape(tensor)[1]
        pad = (-length) % size
        widths = [(0, 0), (0, pad)] + [(0, 0)] * (len(tensor.shape) - 2)
        tensor = ops.pad(tensor, widths)
        shape = ops.shape(tensor)
        return ops.reshape(tensor, (shape[0], -1, size, *shape[2:]))

    def _unblock(self, blocks, length):
        shape = ops.shape(blocks)
        return ops.reshape(blocks, (shape[0], -1, *shape[3:]))[:, :length]

    def draw_mask(self, inputs):
        """A random `(batch, T)` bool: each output step with a valid input step
        is masked with probability `mask_ratio`."""
        _, valid = self._split(inputs)
        block_valid = ops.any(self._blocks(ops.cast(valid, "int32")) > 0, axis=2)
        draw = keras.random.uniform(ops.shape(block_valid), seed=self.seed_generator)
        return ops.logical_and(draw < self.mask_ratio, block_valid)

    def mask_inputs(self, inputs, masked):
        """The inputs with the steps of the `masked` output steps replaced
        (token ids by `mask_id`, values by 0; padding stays padding), and the
        `(batch, length)` bool of the replaced steps."""
        x, valid = self._split(inputs)
        length = ops.shape(x)[1]
        steps = ops.repeat(ops.cast(masked, "bool")[:, :, None], self.stride, axis=2)
        steps = ops.logical_and(self._unblock(steps, length), valid)
        if self.tokens:
            return ops.where(steps, ops.cast(self.mask_id, x.dtype), x), steps
        x = ops.where(steps[..., None], ops.zeros_like(x), x)
        return ((x, inputs[1]) if isinstance(inputs, (list, tuple)) else x), steps

    def call(self, inputs, training=None, masked=None):
        x, valid = self._split(inputs)
        if self.frames:
            # The log-mel frames of the original audio; the front end has no weights to train.
            x, valid = self.backbone.frontend_layer(x, mask=valid)
        targets = self._blocks(x, self.units_per_step)  # (batch, T, units[, unit_size])
        valid_blocks = self._blocks(ops.cast(valid, "float32"), self.units_per_step)
        if self.objective == "masked":
            if masked is None:
                masked = self.draw_mask(inputs)
            corrupted, _ = self.mask_inputs(inputs, masked)
            weights = valid_blocks * ops.cast(masked, "float32")[:, :, None]
        else:
            corrupted = inputs
            # Output t predicts block t+1: the last output has no target.
            targets = ops.concatenate([targets[:, 1:], ops.zeros_like(targets[:, :1])], axis=1)
            weights = ops.concatenate([valid_blocks[:, 1:], ops.zeros_like(valid_blocks[:, :1])], axis=1)
        features = self.backbone(corrupted, training=training)
        predictions = self.head(features)
        shape = ops.shape(predictions)
        if self.tokens:
            predictions = ops.reshape(predictions, (shape[0], shape[1], self.stride, -1))
        else:
            targets = ops.reshape(targets, (shape[0], shape[1], -1))
        return {"predictions": predictions, "targets": targets, "weights": ops.cast(weights, "float32")}

    def reconstruction_loss(self, outputs):
        """The objective's loss of `call`'s outputs: the mean over the
        predicted steps (cross-entropy, or the squared error averaged over
        `input_dim`)."""
        predictions, targets, weights = outputs["predictions"], outputs["targets"], outputs["weights"]
        if self.tokens:
            losses = keras.losses.sparse_categorical_crossentropy(
                ops.cast(targets, "int32"), ops.cast(predictions, "float32"), from_logits=True
            )
        else:
            shape = ops.shape(predictions)
            error = ops.reshape(
                ops.cast(predictions, "float32") - targets, (shape[0], shape[1], self.units_per_step, -1)
            )
            losses = ops.mean(ops.square(error), axis=-1)
        return ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.reconstruction_loss(y_pred)
        if self.losses:
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def pretrained_backbone(self):
        """A new `SSMBackbone` in the given backbone's config, with the
        pretrained weights (without the mask id's embedding row)."""
        backbone = SSMBackbone.from_config(self.task_config)
        copy_backbone_weights(self.backbone, backbone)
        return backbone


def _widen_embedding(source, widened):
    """Copies `source`'s weights into `widened` (one more embedding row, kept at its initial value)."""
    values = []
    for s, w in zip(source.weights, widened.weights):
        value = ops.convert_to_numpy(s)
        if w is widened.encoder.embeddings:
            value = np.concatenate([value, ops.convert_to_numpy(w)[value.shape[0]:]], axis=0)
        values.append(value)
    widened.set_weights(values)


def pretraining_inputs(dataset):
    """A dataset of `(inputs, labels)` batches as `(inputs,)` batches for `SSMPretrainer.fit`
    (a bare `(audio, mask)` pair would be read as inputs and labels).

    >>> import numpy as np, tensorflow as tf
    >>> dataset = tf.data.Dataset.from_tensor_slices((np.ones((4, 6), "int32"), np.arange(4))).batch(2)
    >>> [tuple(x.shape) for (x,) in pretraining_inputs(dataset)]
    [(2, 6), (2, 6)]
    """
    return dataset.map(lambda inputs, labels: (inputs,))
