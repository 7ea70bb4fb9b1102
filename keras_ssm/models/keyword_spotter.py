"""Continuous keyword detection over a live stream with a causal classifier."""

import collections
import time

import keras
import numpy as np
from keras import ops

from keras_ssm.layers.base import StreamConstants
from keras_ssm.models.streaming import PackedState, _arrays, compile_step, frozen_weights


def _restart(x, x0, keep):
    """The state tensor `x` with the rows where `keep` `(batch,)` is False
    set back to the initial state `x0` (any dtype, complex included)."""
    return ops.where(ops.reshape(keep, (-1,) + (1,) * (len(x.shape) - 1)), x, x0)


class _Trigger:
    """The detection rule: the probabilities averaged over the last
    `smoothing` windows; a keyword (a label outside `background`) whose
    average reaches `threshold`, at most one per `refractory_seconds`."""

    def __init__(self, labels, threshold, background, refractory_seconds, smoothing):
        if isinstance(smoothing, bool) or not isinstance(smoothing, int) or smoothing < 1:
            raise ValueError(f"`smoothing` must be a positive number of windows, got {smoothing!r}.")
        self.labels, self.threshold, self.refractory = list(labels), threshold, refractory_seconds
        self.keywords = np.array([label not in background for label in self.labels])
        self.recent = collections.deque(maxlen=smoothing)
        self.last = -np.inf

    def __call__(self, at, p):
        self.recent.append(np.asarray(p, np.float64))
        p = np.mean(self.recent, axis=0)
        best = int(np.argmax(np.where(self.keywords, p, -1.0)))
        if p[best] >= self.threshold and at - self.last >= self.refractory:
            self.last = at
            return at, self.labels[best], float(p[best])
        return None


def detect(scores, labels, threshold, background=("_silence_", "_unknown_"), refractory_seconds=1.0, smoothing=3):
    """The detections that `KeywordSpotter` reports for a sequence of window
    scores (to try thresholds on one pass of the model).

    Args:
        scores: `(time, probabilities)` pairs in time order (`KeywordSpotter.scores`).
        labels, threshold, background, refractory_seconds, smoothing: as in
            `KeywordSpotter`.

    Returns:
        `[(time, label, smoothed probability)]`.

    >>> import numpy as np
    >>> scores = [(1.0, np.array([0.1, 0.9])), (1.1, np.array([0.2, 0.8])), (2.5, np.array([0.7, 0.3]))]
    >>> detect(scores, ["_silence_", "yes"], threshold=0.5, smoothing=1)
    [(1.0, 'yes', 0.9)]
    """
    trigger = _Trigger(labels, threshold, background, refractory_seconds, smoothing)
    return [d for d in (trigger(at, p) for at, p in scores) if d is not None]


class KeywordSpotter:
    """Detects keywords in a stream with a classifier trained on clips of
    `window_seconds` (a causal `SSMClassifier`, e.g. `speech_commands12_s5`).

    Every `hop_seconds` it scores the last `window_seconds` of audio exactly
    as the model scores a clip: `window / hop` streams run side by side as
    one batch, each restarted from the initial state when its window is
    scored, so one of them has just heard the last window. Each sample goes
    through the model `window / hop` times, chunk by chunk with constant
    memory, in one step compiled when the spotter starts (see
    `keras_ssm.models.streaming.compile_step`: it keeps the weights it
    started with). A keyword (any label outside `background`) is reported when its
    probability, averaged over the last `smoothing` windows (posterior
    smoothing), reaches `threshold`, once per `refractory_seconds`.

    Args:
        model: the classifier; its backbone's stride must divide the hop.
        labels: class names in output order.
        sample_rate: the stream's rate (the model's own, or one it was
            re-targeted to).
        window_seconds, hop_seconds: the scored window and the time between
            scores (a whole number of hops per window).
        threshold: the probability that triggers a detection.
        background: labels that never trigger (silence, unknown words).
        refractory_seconds: no second detection within this time.
        smoothing: windows averaged before the threshold (1: none).

    Attributes:
        scores: one `(time, probabilities)` per scored window.
        seconds: compute time so far.

    Example:
    >>> import numpy as np
    >>> from keras_ssm.models import SSMBackbone, SSMClassifier
    >>> model = SSMClassifier(SSMBackbone("s5", depth=1, width=8, input_dim=1,
    ...                                   frontend={"sample_rate": 1600, "frame_seconds": 0.025,
    ...                                             "hop_seconds": 0.01, "num_mel_bins": 8,
    ...                                             "upper_edge_hertz": 800.0},
    ...                                   layer_kwargs={"state_dim": 4}), num_classes=3)
    >>> spotter = KeywordSpotter(model, ["_silence_", "yes", "no"], sample_rate=1600, threshold=0.0)
    >>> detections = spotter(np.zeros(3200, "float32"))
    >>> len(spotter.scores), spotter.scores[0][0]
    (11, 1.0)
    """

    def __init__(self, model, labels, sample_rate, window_seconds=1.0, hop_seconds=0.1, threshold=0.8,
                 background=("_silence_", "_unknown_"), refractory_seconds=1.0, smoothing=3):
        self.window = int(round(window_seconds * sample_rate))
        self.hop = int(round(hop_seconds * sample_rate))
        stride = model.backbone.stride
        if self.hop < 1 or self.hop % stride or self.window % self.hop:
            raise ValueError(
                f"`hop_seconds` ({hop_seconds} s = {hop_seconds * sample_rate:g} samples) must be a whole multiple "
                f"of the model's stride ({stride} samples) and divide `window_seconds` ({window_seconds} s)."
            )
        if not 0 <= threshold <= 1:
            raise ValueError(f"`threshold` must lie in [0, 1], got {threshold!r}.")
        if len(labels) != model.num_classes:
            raise ValueError(f"`labels` names {len(labels)} classes; the model has {model.num_classes}.")
        self.model, self.labels, self.sample_rate = model, list(labels), sample_rate
        self._trigger = _Trigger(labels, threshold, background, refractory_seconds, smoothing)
        self.streams = self.window // self.hop
        state = model.get_initial_state(self.streams)
        self._frames = state["backbone"]["frames"]
        self._packing = PackedState(_arrays(state))
        self._initial = self._packing.pack(_arrays(state))
        # Tensors of its own: a trace (torch.jit.trace) would take `_initial`
        # for the input it is.
        self._state = self._packing.pack(_arrays(model.get_initial_state(self.streams)))
        self.constants = StreamConstants(model, model.backbone.step_scale)
        with self.constants:
            chunk, keep = np.zeros((self.streams, self.hop, 1), "float32"), np.ones(self.streams, bool)
            self._step = compile_step(self._advance, frozen_weights(model), [chunk, keep], self._state)
        self._hops = 0  # hops heard so far
        self._pending = np.zeros(0, np.float32)
        self.scores, self.seconds = [], 0.0

    def _advance(self, chunk, keep, *packed):
        arrays = self._packing.unpack([_restart(x, x0, keep) for x, x0 in zip(packed, self._initial)])
        backbone = {"blocks": arrays["blocks"], "frames": self._frames}
        if "frontend" in arrays:
            backbone["frontend"] = arrays["frontend"]
        full = {"backbone": backbone, "sum": arrays["sum"], "count": arrays["count"], "last": arrays["last"]}
        logits, state = self.model.chunk(chunk, full)
        return (ops.softmax(logits, axis=-1), *self._packing.pack(_arrays(state)))

    def __call__(self, audio):
        """Feeds 1-D float samples (any number); returns the detections they
        complete: a list of `(time in seconds, label, probability)`."""
        audio = np.asarray(audio, np.float32).reshape(-1)
        self._pending = np.concatenate([self._pending, audio])
        detections = []
        start = time.perf_counter()
        while len(self._pending) >= self.hop:
            hop, self._pending = self._pending[: self.hop], self._pending[self.hop :]
            # Stream j % K starts anew before hop j: after hop j + K - 1 it
            # has heard exactly the last window.
            keep = np.arange(self.streams) != self._hops % self.streams
            chunk = np.ascontiguousarray(np.broadcast_to(hop[None, :, None], (self.streams, self.hop, 1)))
            with self.constants:
                probabilities, *self._state = self._step(chunk, keep, *self._state)
            self._hops += 1
            if self._hops < self.streams:
                continue  # no stream has heard a whole window yet
            p = ops.convert_to_numpy(probabilities)[self._hops % self.streams]
            at = self._hops * self.hop / self.sample_rate
            self.scores.append((at, p))
            found = self._trigger(at, p)
            if found is not None:
                detections.append(found)
        self.seconds += time.perf_counter() - start
        return detections
