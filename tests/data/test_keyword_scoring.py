"""The keyword-detection scoring rule (`keras_ssm.data.keyword_stream.score`).

A hit: a detection of the word's own label at or after half of the word
heard and at most `MAX_LATENCY_SECONDS` after its end; each word hit at most
once; everything else is a false alarm, counted over the whole stream.
"""

import numpy as np
import pytest
from scipy.stats import chi2

from keras_ssm.data.keyword_stream import HEARD_FRACTION, MAX_LATENCY_SECONDS, score
from keras_ssm.intervals import poisson_rate_interval, wilson_interval

HOUR = 3600.0
EPSILON = 1e-6


def _yes(start=10.0, end=11.0):
    return {"label": "yes", "start": start, "end": end}


def _counts(result):
    return result["detected"], result["keywords"], result["false_alarms"]


def test_the_rule_constants():
    # The benchmark's figures and this file's boundaries rest on these values.
    assert HEARD_FRACTION == 0.5 and MAX_LATENCY_SECONDS == 1.0


# --------------------------------------------------------------------------
# Boundaries of the hit span: [start + half the word, end + latency]


def test_a_detection_at_half_the_word_hits():
    assert _counts(score([_yes()], [(10.5, "yes", 0.9)], HOUR)) == (1, 1, 0)


def test_a_detection_just_before_half_the_word_is_a_false_alarm():
    # The word overlaps the detection's window, but less than half of it has been heard.
    assert _counts(score([_yes()], [(10.5 - EPSILON, "yes", 0.9)], HOUR)) == (0, 1, 1)
    assert _counts(score([_yes()], [(10.1, "yes", 0.9)], HOUR)) == (0, 1, 1)


def test_half_is_of_the_word_s_own_duration():
    word = _yes(10.0, 10.6)  # a 0.6 s word: half heard at 10.3 s
    assert _counts(score([word], [(10.3, "yes", 0.9)], HOUR)) == (1, 1, 0)
    assert _counts(score([word], [(10.3 - EPSILON, "yes", 0.9)], HOUR)) == (0, 1, 1)


def test_a_detection_at_the_end_plus_the_latency_hits():
    assert _counts(score([_yes()], [(11.0 + MAX_LATENCY_SECONDS, "yes", 0.9)], HOUR)) == (1, 1, 0)


def test_a_detection_just_after_the_latency_is_a_false_alarm():
    assert _counts(score([_yes()], [(11.0 + MAX_LATENCY_SECONDS + EPSILON, "yes", 0.9)], HOUR)) == (0, 1, 1)


# --------------------------------------------------------------------------
# Double detections, wrong labels, background words and noise


def test_a_second_detection_of_one_word_is_a_false_alarm():
    result = score([_yes()], [(10.6, "yes", 0.9), (10.9, "yes", 0.95), (11.8, "yes", 0.9)], HOUR)
    assert _counts(result) == (1, 1, 2)


def test_two_occurrences_of_one_keyword_are_hit_once_each():
    events = [_yes(10.0, 11.0), _yes(13.0, 14.0)]
    assert _counts(score(events, [(10.6, "yes"), (13.6, "yes")], HOUR)) == (2, 2, 0)
    # Two detections of the first word do not stand in for the second one.
    assert _counts(score(events, [(10.6, "yes"), (10.9, "yes")], HOUR)) == (1, 2, 1)


def test_a_detection_between_two_spans_takes_the_one_that_ends_first():
    # Spans [10.5, 12.0] and [11.7, 13.2] overlap (a gap under 1 s): both detections count.
    events = [_yes(11.2, 12.2), _yes(10.0, 11.0)]
    assert _counts(score(events, [(11.9, "yes"), (11.8, "yes")], HOUR)) == (2, 2, 0)


def test_a_wrong_label_is_a_false_alarm_and_the_word_stays_missed():
    assert _counts(score([_yes()], [(10.6, "no", 0.9)], HOUR)) == (0, 1, 1)


def test_a_wrong_label_does_not_spoil_a_right_one():
    assert _counts(score([_yes()], [(10.6, "no", 0.9), (10.7, "yes", 0.9)], HOUR)) == (1, 1, 1)


def test_unknown_words_are_never_targets():
    events = [{"label": "_unknown_", "start": 10.0, "end": 11.0}]
    result = score(events, [(10.6, "yes", 0.9), (10.7, "_unknown_", 0.9)], HOUR)
    assert _counts(result) == (0, 0, 2)
    assert np.isnan(result["detection_rate"])


def test_a_silence_event_is_never_a_target():
    events = [{"label": "_silence_", "start": 10.0, "end": 11.0}, _yes(13.0, 14.0)]
    assert _counts(score(events, [(10.6, "_silence_"), (13.6, "yes")], HOUR)) == (1, 1, 1)


def test_detections_on_noise_are_false_alarms():
    assert _counts(score([_yes()], [(3.0, "yes"), (30.0, "no")], HOUR)) == (0, 1, 2)
    assert _counts(score([], [(3.0, "yes")], HOUR)) == (0, 0, 1)


def test_the_order_of_events_and_detections_does_not_matter():
    events = [_yes(13.0, 14.0), {"label": "no", "start": 20.0, "end": 21.0}, _yes(10.0, 11.0)]
    detections = [(20.7, "no"), (13.6, "yes"), (10.6, "yes"), (10.8, "yes")]
    forward = _counts(score(events, detections, HOUR))
    assert forward == _counts(score(events[::-1], sorted(detections), HOUR)) == (3, 3, 1)


# --------------------------------------------------------------------------
# Rates over the whole stream, and their intervals


def test_false_alarms_per_hour_count_the_whole_stream():
    # 3 false alarms in a 30-minute stream (most of it noise between words): 6 per hour.
    events = [_yes(10.0, 11.0), _yes(600.0, 601.0)]
    detections = [(10.6, "yes"), (100.0, "yes"), (600.8, "no"), (1700.0, "yes")]
    result = score(events, detections, 1800.0)
    assert _counts(result) == (1, 2, 3)
    assert result["hours"] == 0.5
    assert result["false_alarms_per_hour"] == pytest.approx(6.0)


def test_the_intervals_are_wilson_for_the_rate_and_garwood_for_false_alarms():
    events = [_yes(10.0 + 5 * k, 11.0 + 5 * k) for k in range(10)]
    detections = [(10.6 + 5 * k, "yes") for k in range(7)] + [(2.0, "yes"), (3.0, "no")]
    result = score(events, detections, 1800.0)
    assert _counts(result) == (7, 10, 2)
    assert result["detection_rate"] == pytest.approx(0.7)
    assert result["detection_rate_interval"] == pytest.approx(tuple(wilson_interval(7, 10)))
    assert result["detection_rate_interval"] == pytest.approx((0.3968, 0.8922), abs=1e-4)
    low, high = result["false_alarms_per_hour_interval"]
    assert (low, high) == pytest.approx(tuple(poisson_rate_interval(2, 0.5)))
    # Garwood: chi-square quantiles 2.5 % with 2k and 97.5 % with 2k + 2 degrees of freedom, halved, per hour.
    assert low == pytest.approx(chi2.ppf(0.025, 4) / 2 / 0.5, rel=1e-6)
    assert high == pytest.approx(chi2.ppf(0.975, 6) / 2 / 0.5, rel=1e-6)


def test_no_false_alarm_still_has_an_upper_bound():
    low, high = score([_yes()], [(10.6, "yes")], HOUR)["false_alarms_per_hour_interval"]
    assert low == 0.0 and high == pytest.approx(chi2.ppf(0.975, 2) / 2, rel=1e-6)  # 3.69 per hour


# --------------------------------------------------------------------------
# Clear errors


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_the_stream_duration_must_be_positive(seconds):
    with pytest.raises(ValueError, match="stream_seconds"):
        score([_yes()], [], seconds)


def test_a_detection_outside_the_stream_is_refused():
    with pytest.raises(ValueError, match="stream_seconds"):
        score([_yes()], [(20.0, "yes")], 15.0)


def test_an_event_must_end_after_it_starts():
    with pytest.raises(ValueError, match=r"events\[0\]"):
        score([_yes(11.0, 11.0)], [], HOUR)
