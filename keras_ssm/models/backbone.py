"""The stack of SSM blocks shared by every task model."""

import copy
import inspect
import numbers

import keras
from keras import ops

from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.downsample import SequenceDownsampling
from keras_ssm.layers.freezing import FROZEN_KEY, freeze_sublayers, frozen_sublayers
from keras_ssm.layers.frontend import LogMelFrontend
from keras_ssm.layers.layout_map import layout_map
from keras_ssm.layers.spec_augment import SpecAugment
from keras_ssm.models.input_checks import ChecksArrayData, check_float_inputs, check_token_ids
from keras_ssm.models.preset_loader import load_preset
from keras_ssm.models.rate import resolve_step_scale

# A front end config may leave `sample_rate` out: re-targeting scales the default.
_FRONTEND_RATE = inspect.signature(LogMelFrontend).parameters["sample_rate"].default


def _check_pool(pool, depth):
    if pool is None:
        return [1] * depth
    pool = list(pool)
    if len(pool) != depth or any(
        isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 1 for p in pool
    ):
        raise ValueError(
            f"`pool` must list one positive integer per block ({depth}), the downsampling "
            f"after that block (1 = none); got {pool!r}."
        )
    return [int(p) for p in pool]


def _block_kwargs(layer_kwargs, index):
    """Block `index`'s layer arguments: a given `seed` is offset by the index,
    so that the blocks do not start from identical weights."""
    kwargs = dict(layer_kwargs or {})
    if kwargs.get("seed") is not None:
        kwargs["seed"] = kwargs["seed"] + index
    return kwargs


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMBackbone(ChecksArrayData, keras.Model):
    """Encoder and `depth` residual SSM blocks: `(batch, length[, input_dim])`
    in, `(batch, length', width)` features out.

    Token inputs (`vocab_size`) go through an `Embedding` with id 0 as padding
    (its mask flows through every block). Continuous inputs (`input_dim`) go
    through a `Dense` encoder and take an optional padding mask: call the
    model on `x` or on `(x, mask)` with `mask` `(batch, length)` bool, True at
    real samples; masked steps feed nothing to any state, so at valid steps a
    right-padded batch equals each sequence run alone.

    `frontend` (continuous inputs; a dict of `LogMelFrontend` arguments)
    turns raw audio into log mel frames before the encoder: the SSMs run at
    the frame rate (`hop_seconds`), and the front end counts in the stride.

    `pool[i] > 1` shortens the sequence after block `i` by that factor (mean
    over frames, `SequenceDownsampling`), as SaShiMi pools between stages:
    `length' = ceil(length / stride)`, `stride = hop * prod(pool)`.

    `step_scale` multiplies the step of every SSM layer: a model trained at
    rate `r` runs on input sampled at `r'` with `step_scale = r / r'`
    (`retarget`). It is kept in the config.

    Args:
        layer: `"s4d"`, `"dss"` or `"s5"`.
        depth: number of blocks.
        width: model width `H`.
        layer_kwargs: arguments of every block's SSM layer (e.g.
            `{"state_dim": 64, "bidirectional": True}`).
        vocab_size / input_dim: exactly one of them.
        norm, prenorm, activation, dropout, norm_momentum, norm_epsilon,
            gelu_approximate: as in `SSMBlock`.
        pool: one downsampling factor per block (default: none).
        frontend: None, or the `LogMelFrontend` arguments of a raw-audio
            front end (with `input_dim=1`).
        spec_augment: None, or the `SpecAugment` arguments of the masks
            applied to the front end's frames while training (needs `frontend`).
        step_scale: positive float, see above.

    Example:
    >>> import numpy as np
    >>> backbone = SSMBackbone("s4d", depth=2, width=16, vocab_size=10,
    ...                        layer_kwargs={"state_dim": 8})
    >>> tuple(backbone(np.array([[3, 4, 5, 0]])).shape)
    (1, 4, 16)
    >>> audio = SSMBackbone("s5", depth=2, width=8, input_dim=1, pool=[4, 1],
    ...                     layer_kwargs={"state_dim": 4})
    >>> tuple(audio(np.zeros((2, 10, 1), "float32")).shape)
    (2, 3, 8)
    """

    def __init__(
        self,
        layer="s5",
        depth=4,
        width=128,
        layer_kwargs=None,
        vocab_size=None,
        input_dim=None,
        norm="batch",
        prenorm=True,
        activation="half_glu1",
        dropout=0.0,
        pool=None,
        step_scale=1.0,
        norm_momentum=0.95,
        norm_epsilon=1e-3,
        gelu_approximate=True,
        frontend=None,
        spec_augment=None,
        **kwargs,
    ):
        if (vocab_size is None) == (input_dim is None):
            raise ValueError(
                "Give exactly one of `vocab_size` (token ids in) or `input_dim` (features "
                f"in); got vocab_size={vocab_size}, input_dim={input_dim}."
            )
        pool = _check_pool(pool, depth)
        if isinstance(step_scale, bool) or not isinstance(step_scale, numbers.Real) or not step_scale > 0:
            raise ValueError(f"`step_scale` must be a positive number, got {step_scale!r}.")
        step_scale = float(step_scale)
        if frontend is not None and (not isinstance(frontend, dict) or input_dim != 1):
            raise ValueError(
                "`frontend` takes a dict of `LogMelFrontend` arguments (e.g. {'sample_rate': 16000}) "
                f"and mono audio (`input_dim=1`); got frontend={frontend!r}, input_dim={input_dim}."
            )
        frontend_layer = None if frontend is None else LogMelFrontend(**frontend, name="frontend")
        if spec_augment is not None and (frontend is None or not isinstance(spec_augment, dict)):
            raise ValueError("`spec_augment` takes a dict of `SpecAugment` arguments and needs a `frontend`; "
                             f"got spec_augment={spec_augment!r}, frontend={frontend!r}.")
        augment = None if spec_augment is None else SpecAugment(**spec_augment, name="spec_augment")
        # === Layers === (attributes are set after the functional init: torch
        # modules cannot take sub-modules before it)
        if vocab_size is not None:
            encoder = keras.layers.Embedding(vocab_size, width, mask_zero=True, name="embedding")
        else:
            encoder = keras.layers.Dense(width, name="encoder")
        blocks = [
            SSMBlock(
                layer,
                layer_kwargs=_block_kwargs(layer_kwargs, i),
                norm=norm,
                prenorm=prenorm,
                activation=activation,
                dropout=dropout,
                norm_momentum=norm_momentum,
                norm_epsilon=norm_epsilon,
                gelu_approximate=gelu_approximate,
                name=f"block_{i}",
            )
            for i in range(depth)
        ]
        downsamplers = [
            SequenceDownsampling(p, name=f"pool_{i}") if p > 1 else None for i, p in enumerate(pool)
        ]
        # === Functional model ===
        if vocab_size is not None:
            inputs = keras.Input((None,), dtype="int32", name="tokens")
            x, mask_kwargs = encoder(inputs), {}  # the Embedding's mask flows implicitly
        else:
            features = keras.Input((None, input_dim), name="inputs")
            padding_mask = keras.Input((None,), dtype="bool", name="padding_mask", optional=True)
            inputs = [features, padding_mask]
            if frontend_layer is None:
                x, mask_kwargs = encoder(features), {"mask": padding_mask}
            else:
                frames, frame_mask = frontend_layer(features, mask=padding_mask)
                if augment is not None:
                    frames = augment(frames)
                x, mask_kwargs = encoder(frames), {"mask": frame_mask}
        for block, downsampler in zip(blocks, downsamplers):
            x = block(x, step_scale=step_scale, **mask_kwargs)
            if downsampler is not None:
                x, mask = downsampler(x, **mask_kwargs)
                mask_kwargs = {"mask": mask}
        super().__init__(inputs, x, **kwargs)
        self.encoder, self.blocks, self.frontend_layer = encoder, blocks, frontend_layer
        self.downsamplers = [d for d in downsamplers if d is not None]
        self._pooled_blocks = tuple(i for i, p in enumerate(pool) if p > 1)  # the block each downsampler follows
        # === Config ===
        self.layer = layer
        self.depth = depth
        self.width = width
        self.layer_kwargs = dict(layer_kwargs or {})
        self.vocab_size = vocab_size
        self.input_dim = input_dim
        self.norm = norm
        self.prenorm = prenorm
        self.activation = activation
        self.dropout = dropout
        self.pool = pool
        self.step_scale = step_scale
        self.norm_momentum = norm_momentum
        self.norm_epsilon = norm_epsilon
        self.gelu_approximate = gelu_approximate
        self.frontend = None if frontend is None else dict(frontend)
        self.spec_augment = None if spec_augment is None else dict(spec_augment)
        # A functional model's `trainable=False` sets its own flag only; its
        # layers (and the weights they make) must be frozen too.
        freeze_sublayers(self, ())

    # A continuous-input backbone takes `x` alone or `(x, mask)`.
    def _standardize(self, inputs):
        if self.input_dim is not None and not isinstance(inputs, (list, tuple, dict)):
            return [inputs, None]
        return inputs

    def check_inputs(self, inputs):
        """Raises a ValueError for inputs this backbone would get silently
        wrong: token ids outside `[0, vocab_size)` (when their values are
        known: not inside a traced function), or integer features (such as
        int16 PCM) into a continuous-input backbone, which Keras would cast
        to float. Every call runs it, and `fit` / `evaluate` / `predict`
        run it on array data before compiling.

        >>> import numpy as np
        >>> backbone = SSMBackbone("s5", depth=1, width=8, vocab_size=10)
        >>> backbone.check_inputs(np.array([[3, 10]]))
        Traceback (most recent call last):
        ...
        ValueError: `tokens` holds token id 10, outside this model's vocabulary (vocab_size=10: ids 0 to 9, 0 is padding). Map each token to an id of the vocabulary the model was trained with (a preset's metadata `input` describes it).
        """
        if self.vocab_size is not None:
            check_token_ids(inputs, self.vocab_size, name="tokens")
            return
        features = inputs.get("inputs") if isinstance(inputs, dict) else inputs
        if isinstance(features, (list, tuple)):
            features = features[0]
        if features is not None:
            check_float_inputs(features, name="inputs")

    def __call__(self, inputs, *args, **kwargs):
        # Checked before the functional model casts them to its input dtype.
        inputs = self._standardize(inputs)
        self.check_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        return super().call(self._standardize(inputs), training=training, mask=mask)

    @property
    def factors(self):
        """The downsampling factors from input steps to output steps, in order:
        the front end's hop (if any), then `pool`."""
        return ([] if self.frontend_layer is None else [self.frontend_layer.hop]) + list(self.pool)

    @property
    def stride(self):
        """Input steps per output step: the front end's hop times the product of `pool`."""
        stride = 1 if self.frontend_layer is None else self.frontend_layer.hop
        for p in self.pool:
            stride *= p
        return stride

    def get_layout_map(self, device_mesh):
        """The `keras.distribution.LayoutMap` of this backbone on `device_mesh`
        (keras-hub's `Backbone.get_layout_map`): B and C of its SSM layers and
        its blocks' MLPs split along the mesh's `"model"` axis, the rest
        replicated (`keras_ssm.layers.layout_map.layout_map`, which also
        lays out a config before any model is built).

        >>> import keras
        >>> mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], ["cpu:0", "cpu:1"])
        >>> backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 8})
        >>> backbone.get_layout_map(mesh)["block_0/s5_layer/B_re"].axes
        ('model', None)
        """
        return layout_map(self, device_mesh)

    # -- streaming ---------------------------------------------------------

    def get_initial_state(self, batch_size, **kwargs):
        """The streaming state: one per block, the running sums of the
        downsampling frames (their phase is a Python int: a batch streams in
        lockstep), and the front end's last samples (with a front end)."""
        state = {
            "blocks": [block.get_initial_state(batch_size, **kwargs) for block in self.blocks],
            "frames": [
                {"sum": ops.zeros((batch_size, self.width)), "count": ops.zeros((batch_size, 1)), "phase": 0}
                for p in self.pool
                if p > 1
            ],
        }
        if self.frontend_layer is not None:
            state["frontend"] = self.frontend_layer.get_initial_state(batch_size)
        return state

    def step(self, inputs_t, state, mask_t=None):
        """One input step: `(batch,)` token ids or `(batch, input_dim)` features.

        `mask_t` `(batch,)` bool marks padded steps (token id 0 always is).
        Returns `(outputs_t, valid_t, new_state)`: `(batch, width)` features and
        their `(batch,)` mask when this step completes an output frame (every
        step without `pool`), else `(None, None, new_state)`. Needs causal
        (unidirectional) layers and no front end (it streams by `chunk`).
        """
        if self.frontend_layer is not None:
            raise ValueError("A backbone with a `frontend` streams by chunks of whole hops: use `chunk` "
                             "(or `keras_ssm.models.streaming.ClassifierStream`, any chunk size), not `step`.")
        x = self.encoder(inputs_t)
        if self.vocab_size is not None:
            valid = ops.not_equal(inputs_t, 0)
            mask_t = valid if mask_t is None else ops.logical_and(valid, mask_t)
        elif mask_t is None:
            mask_t = ops.ones((ops.shape(x)[0],), "bool")
        return self._advance(x, ops.cast(mask_t, "bool"), state, 0, 0, commit=True)

    def chunk(self, inputs, state, mask=None, final=False):
        """The full pass over a chunk of the stream, from `state`: `(batch, C)`
        token ids or `(batch, C, input_dim)` features, optional `(batch, C)`
        `mask`. Returns `(outputs, output_mask, new_state)`, outputs
        `(batch, C / stride, width)`: fed chunk by chunk, a stream gives the
        outputs of the full pass over it. `C` must be a multiple of `stride`
        except for a `final` chunk (its partial frames close the stream;
        `new_state` is then None). Needs causal layers.
        """
        if not final and any(f["phase"] for f in state["frames"]):
            raise ValueError("`chunk` continues a stream at a frame boundary: this state has "
                             "partial frames from `step`; call `finish` or keep stepping.")
        length = inputs.shape[1]
        if not final and length is not None and length % self.stride:
            raise ValueError(
                f"A chunk's length ({length}) must be a multiple of the backbone's stride "
                f"({self.stride}, the product of `pool`) except for the `final` chunk."
            )
        if self.vocab_size is not None:
            valid = ops.not_equal(inputs, 0)
            mask = valid if mask is None else ops.logical_and(valid, mask)
        new_state = {}
        if self.frontend_layer is not None:
            inputs, mask, new_state["frontend"] = self.frontend_layer.chunk(
                inputs, state["frontend"], mask=mask, final=final)
        x = self.encoder(inputs)
        blocks = []
        for i, block in enumerate(self.blocks):
            x, block_state = block.chunk(x, state["blocks"][i], mask=mask, step_scale=self.step_scale)
            blocks.append(block_state)
            if self.pool[i] > 1:
                x, mask = self.downsamplers[self._pooled_blocks.index(i)](x, mask=mask)
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], "bool")
        new_state = None if final else {"blocks": blocks, "frames": state["frames"], **new_state}
        return x, mask, new_state

    def finish(self, state):
        """The output frame a full pass would add for the steps streamed since
        the last complete one (its partial frames), or `(None, None, state)`.
        Does not change `state`."""
        for stage in range(len(state["frames"])):
            if state["frames"][stage]["phase"]:
                x, valid = self._frame_mean(state["frames"][stage])
                block_index = self._pooled_blocks[stage] + 1
                return self._advance(x, valid, state, block_index, stage + 1, commit=False)
        return None, None, state

    @staticmethod
    def _frame_mean(frame):
        return frame["sum"] / ops.maximum(frame["count"], 1.0), frame["count"][:, 0] > 0

    def _advance(self, x, valid, state, block_index, stage, commit):
        """Runs `x` (one step at the rate of `block_index`) through the rest
        of the model; with `commit=False` later partial frames are flushed too."""
        blocks, frames = list(state["blocks"]), [dict(f) for f in state["frames"]]
        for i in range(block_index, self.depth):
            x, blocks[i] = self.blocks[i].step(x, blocks[i], mask_t=valid, step_scale=self.step_scale)
            if self.pool[i] == 1:
                continue
            frame = frames[stage]
            keep = ops.cast(valid, "float32")[:, None]
            frame["sum"] = frame["sum"] + ops.cast(x, "float32") * keep
            frame["count"] = frame["count"] + keep
            frame["phase"] += 1
            if frame["phase"] < self.pool[i] and commit:
                return None, None, {"blocks": blocks, "frames": frames}
            x, valid = self._frame_mean(frame)
            frames[stage] = {"sum": ops.zeros_like(frame["sum"]), "count": ops.zeros_like(frame["count"]), "phase": 0}
            stage += 1
        if not commit:
            return x, valid, state
        return x, valid, {"blocks": blocks, "frames": frames}

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "layer": self.layer,
            "depth": self.depth,
            "width": self.width,
            "layer_kwargs": self.layer_kwargs,
            "vocab_size": self.vocab_size,
            "input_dim": self.input_dim,
            "norm": self.norm,
            "prenorm": self.prenorm,
            "activation": self.activation,
            "dropout": self.dropout,
            "pool": self.pool,
            "step_scale": self.step_scale,
            "norm_momentum": self.norm_momentum,
            "norm_epsilon": self.norm_epsilon,
            "gelu_approximate": self.gelu_approximate,
            "frontend": self.frontend,
            "spec_augment": self.spec_augment,
        }
        # The blocks are rebuilt from the arguments above: their flags are kept here.
        frozen = frozen_sublayers(self)
        if frozen:
            config[FROZEN_KEY] = frozen
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        frozen = config.pop(FROZEN_KEY, None)
        backbone = cls(**config)
        freeze_sublayers(backbone, frozen)
        return backbone

    @classmethod
    def retarget_config(cls, config, step_scale):
        """A copy of a backbone config (`get_config()`) that runs with every
        step multiplied by `step_scale` (on top of any factor there): the
        one place that knows how a backbone changes rate. A backbone with a
        `frontend` takes input at `sample_rate / step_scale` instead, and
        its SSMs keep their frame rate.

        >>> config = SSMBackbone("s4d", depth=1, width=8, input_dim=1).get_config()
        >>> SSMBackbone.retarget_config(SSMBackbone.retarget_config(config, 2.0), 0.25)["step_scale"]
        0.5
        """
        step_scale = resolve_step_scale(step_scale)
        config = copy.deepcopy(config)
        if config.get("frontend"):
            frontend = config["frontend"]
            frontend["sample_rate"] = float(frontend.get("sample_rate", _FRONTEND_RATE)) / step_scale
        else:
            config["step_scale"] = float(config.get("step_scale", 1.0)) * step_scale
        return config

    def retarget(self, step_scale=None, *, sample_rate=None, trained_rate=None):
        """A new backbone with these weights, run at another sampling rate:
        every step multiplied by `step_scale`, or by `trained_rate /
        sample_rate` (Hz) when those are given instead (see `retarget_config`).

        >>> backbone = SSMBackbone("s5", depth=1, width=8, input_dim=1, layer_kwargs={"state_dim": 4})
        >>> backbone.retarget(sample_rate=8000, trained_rate=16000).step_scale
        2.0
        """
        step_scale = resolve_step_scale(step_scale, sample_rate, trained_rate)
        new = type(self).from_config(self.retarget_config(self.get_config(), step_scale))
        new.set_weights(self.get_weights())
        return new

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Loads a backbone preset, or the backbone of a task preset (`keras_ssm.zoo`)."""
        return load_preset(cls, preset, **kwargs)
