"""Long keyword-spotting streams assembled from labelled one-second clips.

Keyword spotting is judged on a stream, not on clips: keywords spoken now
and then, silence and background noise between them. `assemble_stream`
lays clips end to end with random gaps over a noise floor and returns the
audio with the time of every keyword, to measure the share detected and
the false alarms per hour (`keras_ssm.zoo.detection`).
"""

import numpy as np


def assemble_stream(clips, labels, noise, *, sample_rate=16000, gap_seconds=(1.0, 3.0), noise_volume=0.1, seed=0):
    """Concatenates `clips` with random gaps of background noise between them.

    Args:
        clips: float `(n, samples)` one-second clips in [-1, 1), in stream order.
        labels: their `(n,)` class names (kept in the events).
        noise: float `(m, samples)` background-noise clips, laid end to end
            (drawn at random) under the whole stream, times `noise_volume`.
        sample_rate: Hz.
        gap_seconds: (min, max) of the uniform gap before each clip.
        noise_volume: scale of the noise floor (0: silent gaps).
        seed: random seed.

    Returns:
        `(audio, events)`: float32 `(total,)` and a list of `{"label", "start",
        "end"}` in seconds, one per clip.

    >>> import numpy as np
    >>> clips = np.ones((2, 16000), "float32") * 0.5
    >>> audio, events = assemble_stream(clips, ["yes", "no"], np.zeros((1, 16000)), gap_seconds=(1.0, 1.0))
    >>> len(audio) / 16000, [(e["label"], e["start"]) for e in events]
    (4.0, [('yes', 1.0), ('no', 3.0)])
    """
    clips = np.asarray(clips, np.float32)
    if clips.ndim != 2 or len(clips) != len(labels):
        raise ValueError(f"`clips` must be (n, samples) with one label each; got {clips.shape} and {len(labels)} labels.")
    low, high = gap_seconds
    if not 0 <= low <= high:
        raise ValueError(f"`gap_seconds` must be (min, max) with 0 <= min <= max, got {gap_seconds!r}.")
    rng = np.random.default_rng(seed)
    gaps = np.round(rng.uniform(low, high, len(clips)) * sample_rate).astype(int)
    total = int(gaps.sum() + clips.shape[0] * clips.shape[1])
    audio = np.zeros(total, np.float32)
    if noise_volume and len(noise):
        floor = np.asarray(noise, np.float32)[rng.integers(len(noise), size=-(-total // np.shape(noise)[1]))]
        audio += noise_volume * floor.reshape(-1)[:total]
    events, position = [], 0
    for clip, label, gap in zip(clips, labels, gaps):
        position += gap
        audio[position : position + len(clip)] += clip
        events.append({"label": str(label), "start": float(position / sample_rate),
                       "end": float((position + len(clip)) / sample_rate)})
        position += len(clip)
    return np.clip(audio, -1.0, 1.0), events
