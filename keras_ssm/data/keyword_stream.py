"""Long keyword-spotting streams assembled from labelled one-second clips.

Keyword spotting is judged on a stream, not on clips: keywords spoken now
and then, silence and background noise between them. `assemble_stream`
lays clips end to end with random gaps over a noise floor and returns the
audio with the time of every word; `score` holds a detector's output to
those times under one fixed rule: the share of keywords detected and the
false alarms per hour, each with its 95 % interval.
"""

import numpy as np

from keras_ssm.intervals import poisson_rate_interval, wilson_interval

# The scoring rule's constants, fixed before any figure was measured (see
# `score`). They are not arguments, so that no evaluation can tune them.
HEARD_FRACTION = 0.5
MAX_LATENCY_SECONDS = 1.0
BACKGROUND = ("_silence_", "_unknown_")


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


def score(events, detections, stream_seconds, *, background=BACKGROUND):
    """Scores a detector's `detections` against the true words of a stream.

    The rule (one rule, fixed in advance; every figure of keras_ssm uses it):

    - A detection `(time, label, ...)` of keyword k **hits** a true
      occurrence of k (an event `{"label": k, "start", "end"}`) when it fires
      after at least half of the word has been heard and at most
      `MAX_LATENCY_SECONDS` (1.0 s) after the word ends:
      `start + HEARD_FRACTION * (end - start) <= time <= end + MAX_LATENCY_SECONDS`,
      both bounds included. One second bounds the wait a user sees after the
      word; with the streams' gaps of 1 s or more, two occurrences' spans
      never overlap.
    - Each occurrence is hit at most once. A second detection of an
      occurrence already hit is a **false alarm**: merging repeats is the
      detector's job (`KeywordSpotter`'s refractory period), so the score
      charges the repeats it lets through. When a detection could hit
      several occurrences of its label, it takes the one whose span ends
      first (this pairing hits the most occurrences).
    - A detection with the wrong label is a false alarm; the occurrence under
      it stays missed unless a detection of its own label hits it.
    - Labels in `background` (`_silence_`, `_unknown_`) are never targets:
      an `_unknown_` word is not a keyword, and any detection on it, on
      noise, or of a background label is a false alarm.
    - False alarms are counted over the whole stream, `stream_seconds` long,
      and reported per hour.

    The share of keywords detected (recall) carries a Wilson 95 % interval;
    false alarms per hour an exact Poisson (Garwood) 95 % interval.

    Args:
        events: the stream's words in any order, each a dict with `"label"`,
            `"start"` and `"end"` in seconds (`assemble_stream`'s events).
        detections: `(time in seconds, label, ...)` tuples in any order
            (`KeywordSpotter`'s or `detect`'s output; extra items ignored).
        stream_seconds: the stream's whole duration (positive), over which
            false alarms are counted.
        background: labels that are never keywords.

    Returns:
        A dict: `keywords` (true keyword occurrences), `detected` (those hit),
        `false_alarms`, `hours`, `detection_rate` and `detection_rate_interval`
        (low, high), `false_alarms_per_hour` and
        `false_alarms_per_hour_interval` (low, high).

    >>> events = [{"label": "yes", "start": 1.0, "end": 2.0},
    ...           {"label": "_unknown_", "start": 4.0, "end": 5.0}]
    >>> result = score(events, [(1.5, "yes", 0.9), (1.8, "yes", 0.9), (4.6, "no", 0.9)], stream_seconds=3600)
    >>> result["detected"], result["keywords"], result["false_alarms"], result["false_alarms_per_hour"]
    (1, 1, 2, 2.0)
    """
    if not np.isfinite(stream_seconds) or stream_seconds <= 0:
        raise ValueError(f"`stream_seconds` must be the stream's duration, a positive number; got {stream_seconds!r}.")
    background = set(background)
    spans = []  # (end of the hit span, start of it, label) per keyword occurrence
    for i, e in enumerate(events):
        if not e["start"] < e["end"]:
            raise ValueError(f"`events[{i}]` must have start < end (seconds); got {e!r}.")
        if e["label"] not in background:
            spans.append((e["end"] + MAX_LATENCY_SECONDS, e["start"] + HEARD_FRACTION * (e["end"] - e["start"]),
                          e["label"]))
    spans.sort()
    hit = [False] * len(spans)
    false_alarms = 0
    for at, label, *_ in sorted(detections, key=lambda d: d[0]):
        if not 0 <= at <= stream_seconds:
            raise ValueError(f"`detections` holds a time {at!r} outside the stream [0, {stream_seconds}] s: pass "
                             "the stream's whole duration as `stream_seconds`.")
        match = next((k for k, (last, first, target) in enumerate(spans)
                      if not hit[k] and target == label and first <= at <= last), None)
        if match is None:  # spans hold keywords only: a background label never matches
            false_alarms += 1
        else:
            hit[match] = True
    hours = stream_seconds / 3600
    detected, keywords = sum(hit), len(spans)
    return {
        "keywords": keywords, "detected": detected, "false_alarms": false_alarms, "hours": hours,
        "detection_rate": detected / keywords if keywords else float("nan"),
        "detection_rate_interval": tuple(wilson_interval(detected, keywords)) if keywords else (0.0, 1.0),
        "false_alarms_per_hour": false_alarms / hours,
        "false_alarms_per_hour_interval": tuple(poisson_rate_interval(false_alarms, hours)),
    }
