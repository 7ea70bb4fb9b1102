"""The keyword-spotting benchmark's pieces that need no data: the stream's
signal-to-noise ratio from its parts, the best recall within a false-alarm
budget, and the one naming rule of its results files."""

import numpy as np

from benchmarks import keyword_spotting as kws
from keras_ssm.data.keyword_stream import assemble_stream
from keras_ssm.zoo.publishing import keyword_benchmark_file


def test_stream_snr_is_the_words_power_over_the_noise_floors():
    rate = 16000
    clips = np.full((2, rate), 0.5, np.float32)  # power 0.25
    noise = np.full((1, rate), 0.05, np.float32)  # at volume 1: power 0.0025, so 20 dB under the words
    args = {"gap_seconds": (1.0, 1.0), "seed": 0}
    audio, events = assemble_stream(clips, ["yes", "no"], noise, noise_volume=1.0, **args)
    speech, _ = assemble_stream(clips, ["yes", "no"], noise, noise_volume=0.0, **args)
    floor, _ = assemble_stream(np.zeros_like(clips), ["yes", "no"], noise, noise_volume=1.0, **args)
    np.testing.assert_allclose(speech + floor, audio, atol=1e-7)  # the parts make the stream
    snr = kws.stream_snr(audio, speech, floor, events, noise)
    assert abs(snr["snr_db"] - 20.0) < 1e-4 and abs(snr["per_word_db"]["median"] - 20.0) < 1e-4
    assert abs(snr["speech_over_median_noise_clip_db"] - 20.0) < 1e-4 and snr["clipped_share"] == 0.0
    # A tenth of the volume is 20 dB more.
    floor, _ = assemble_stream(np.zeros_like(clips), ["yes", "no"], noise, noise_volume=0.1, **args)
    assert abs(kws.stream_snr(speech + floor, speech, floor, events, 0.1 * noise)["snr_db"] - 40.0) < 1e-3


def test_reachable_takes_the_most_hits_within_the_false_alarm_budget():
    rows = [{"smoothing": 1, "threshold": 0.5, "detected": 90, "false_alarms": 9, "false_alarms_per_hour": 45.0},
            {"smoothing": 3, "threshold": 0.9, "detected": 70, "false_alarms": 2, "false_alarms_per_hour": 10.0},
            {"smoothing": 5, "threshold": 0.98, "detected": 60, "false_alarms": 0, "false_alarms_per_hour": 0.0}]
    assert kws.reachable(rows)["threshold"] == 0.9
    assert kws.reachable(rows, limit=5.0)["threshold"] == 0.98
    assert kws.reachable(rows[:1]) is None
    assert kws._best(rows)["threshold"] == 0.5  # most hits minus false alarms


def test_one_naming_rule_for_the_results_files():
    assert keyword_benchmark_file("speech_commands12_s5", folder="r") == "r/keyword_spotting_speech_commands12_s5.json"
    assert keyword_benchmark_file("speech_commands12_s5", 0.1, "png", folder="r").endswith("_s5.png")
    assert keyword_benchmark_file("speech_commands12_s4d", 1.0, "md", folder="r") == (
        "r/keyword_spotting_speech_commands12_s4d_noise1.md")
    assert kws._path("r", "p", 0.5, "json") == "r/keyword_spotting_p_noise0.5.json"
