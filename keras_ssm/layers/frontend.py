"""A causal log-mel front end: raw samples in, frames of log mel energies out."""

import keras
import numpy as np
from keras import ops

from keras_ssm import mel
from keras_ssm.layers.downsample import downsample_mask

# A floor under the mel energies (signal variance per band, -80 dB of full
# scale) and a fixed affine that brings their logarithm to about [-1, 1.5].
_FLOOR = 1e-8
_LOG_OFFSET, _LOG_SCALE = 12.0, 6.0
# The features of silence (energy 0).
SILENCE = (float(np.log(_FLOOR)) + _LOG_OFFSET) / _LOG_SCALE


def _samples(seconds, sample_rate, name):
    samples = seconds * sample_rate
    if abs(samples - round(samples)) > 1e-6 or round(samples) < 1:
        raise ValueError(
            f"`{name}` ({seconds} s) must be a whole, positive number of samples at "
            f"`sample_rate` {sample_rate} Hz; got {samples:g} samples."
        )
    return int(round(samples))


@keras.saving.register_keras_serializable(package="keras_ssm")
class LogMelFrontend(keras.layers.Layer):
    """Raw audio `(batch, samples, 1)` → log mel energies `(batch, frames, num_mel_bins)`
    and the frames' mask, causally: frame `k` ends at sample `(k + 1) * hop`.

    Each frame is a periodic-Hann-windowed DFT of the last `frame_seconds`
    of audio (zeros before the start), computed as one strided real
    convolution — no FFT, no complex dtype, so it exports — then its power
    per bin (the signal's variance in that bin), triangular mel filters, and
    `(log(energy + 1e-8) + 12) / 6`. `frames = ceil(samples / hop)`; a last,
    partial hop is zero-padded. Masked samples are zeroed first and a frame
    is valid when its hop holds a valid sample, so a right-padded batch
    equals each clip alone at valid frames. Nothing is trained.

    Windows and filters are in seconds and Hz: the front end of a model
    re-targeted to another `sample_rate` (`keras_ssm.models.rate.retarget`)
    measures the same bands, and the SSMs after it keep their frame rate.
    Bands above the input's Nyquist frequency read as the floor.

    Streaming: `get_initial_state(batch_size)` (the last
    `frame - hop` samples) and `chunk(inputs, state, mask, final)`.

    Args:
        sample_rate: input rate in Hz.
        frame_seconds, hop_seconds: window and hop, whole numbers of samples.
        num_mel_bins: mel bands.
        lower_edge_hertz, upper_edge_hertz: the filters' range.

    Returns:
        `(features, mask)`: float `(batch, frames, num_mel_bins)` and bool
        `(batch, frames)`.

    Example:
    >>> import numpy as np
    >>> frontend = LogMelFrontend(sample_rate=16000)
    >>> features, mask = frontend(np.zeros((2, 16000, 1), "float32"))
    >>> tuple(features.shape), tuple(mask.shape)
    ((2, 100, 40), (2, 100))
    """

    def __init__(self, sample_rate=16000, frame_seconds=0.025, hop_seconds=0.01, num_mel_bins=40,
                 lower_edge_hertz=20.0, upper_edge_hertz=8000.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not sample_rate > 0:
            raise ValueError(f"`sample_rate` must be a positive number of Hz, got {sample_rate!r}.")
        if isinstance(num_mel_bins, bool) or not isinstance(num_mel_bins, int) or num_mel_bins < 1:
            raise ValueError(f"`num_mel_bins` must be a positive integer, got {num_mel_bins!r}.")
        self.sample_rate = float(sample_rate)
        self.frame_seconds, self.hop_seconds = float(frame_seconds), float(hop_seconds)
        self.frame = _samples(self.frame_seconds, self.sample_rate, "frame_seconds")
        self.hop = _samples(self.hop_seconds, self.sample_rate, "hop_seconds")
        if self.hop > self.frame:
            raise ValueError(f"`hop_seconds` ({hop_seconds}) must not exceed `frame_seconds` ({frame_seconds}).")
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz, self.upper_edge_hertz = float(lower_edge_hertz), float(upper_edge_hertz)
        self._basis = mel.dft_basis(self.frame).astype("float32")[:, None, :]
        filters = mel.mel_filterbank(self.frame, self.sample_rate, num_mel_bins,
                                     self.lower_edge_hertz, self.upper_edge_hertz)
        self._filters = (filters * mel.power_scale(self.frame)).astype("float32")
        self.supports_masking = True

    @property
    def context(self):
        """Samples a frame reaches back before its hop: `frame - hop`."""
        return self.frame - self.hop

    def _features(self, padded):
        """Log mel energies of `(batch, context + frames * hop, 1)` samples."""
        spectrum = ops.conv(padded, ops.convert_to_tensor(self._basis), strides=self.hop, padding="valid")
        bins = self.frame // 2 + 1
        power = ops.square(spectrum[..., :bins]) + ops.square(spectrum[..., bins:])
        energy = ops.matmul(power, ops.convert_to_tensor(self._filters))
        return (ops.log(energy + _FLOOR) + _LOG_OFFSET) / _LOG_SCALE

    def _valid(self, inputs, mask):
        x = ops.cast(inputs, "float32")
        if mask is None:
            return x, ops.ones(ops.shape(x)[:2], "bool")
        mask = ops.cast(mask, "bool")
        return x * ops.cast(mask, "float32")[..., None], mask

    def _whole_hops(self, x):
        """`x` zero-padded at the end to whole hops."""
        frames = (ops.shape(x)[1] + self.hop - 1) // self.hop
        return ops.pad(x, [[0, 0], [0, self.hop - 1], [0, 0]])[:, : frames * self.hop]

    def call(self, inputs, mask=None):
        x, mask = self._valid(inputs, mask)
        x = ops.pad(self._whole_hops(x), [[0, 0], [self.context, 0], [0, 0]])
        return ops.cast(self._features(x), self.compute_dtype), downsample_mask(mask, self.hop)

    def get_initial_state(self, batch_size):
        """The samples before the stream: zeros `(batch_size, frame - hop, 1)`."""
        return ops.zeros((batch_size, self.context, 1))

    def chunk(self, inputs, state, mask=None, final=False):
        """`(features, mask, new_state)` of a chunk of the stream: a whole
        number of hops, except a `final` chunk (zero-padded; `new_state` None).
        Fed chunk by chunk, a stream gives the frames of `call` over it."""
        x, mask = self._valid(inputs, mask)
        if final:
            x, mask = self._whole_hops(x), downsample_mask(mask, self.hop)
        elif x.shape[1] is not None and x.shape[1] % self.hop:
            raise ValueError(f"A chunk's length ({x.shape[1]}) must be a multiple of the hop ({self.hop} samples).")
        else:
            mask = downsample_mask(mask, self.hop)
        x = ops.concatenate([ops.cast(state, "float32"), x], axis=1)
        new_state = None if final else x[:, ops.shape(x)[1] - self.context :]
        return ops.cast(self._features(x), self.compute_dtype), mask, new_state

    def compute_output_spec(self, inputs, mask=None):
        frames = None if inputs.shape[1] is None else -(-inputs.shape[1] // self.hop)
        return (
            keras.KerasTensor((inputs.shape[0], frames, self.num_mel_bins), dtype=self.compute_dtype),
            keras.KerasTensor((inputs.shape[0], frames), dtype="bool"),
        )

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({
            "sample_rate": self.sample_rate, "frame_seconds": self.frame_seconds,
            "hop_seconds": self.hop_seconds, "num_mel_bins": self.num_mel_bins,
            "lower_edge_hertz": self.lower_edge_hertz, "upper_edge_hertz": self.upper_edge_hertz,
        })
        return config
