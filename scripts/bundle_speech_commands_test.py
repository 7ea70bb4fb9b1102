"""Writes the Speech Commands clips bundled for the zoo's main job.

    .venv/bin/python scripts/bundle_speech_commands_test.py --data ../shared/data/speech_commands_v0.02_test

`examples/data/speech_commands12_test/part0.npz`: 10 clips of each of the 12
classes from the test fold (fold 8; the first ten by file name), with every
key of the source's npz parts, so `keras_ssm.data.load_speech_commands`
reads it (test split only). `stream/keywords.wav`: six more test-fold
keywords laid end to end with 1-2 s of the fold's background noise between
them (`keras_ssm.data.keyword_stream.assemble_stream`), for
`python -m keras_ssm zoo stream`.
"""

import argparse
import glob
import os
import wave

import numpy as np

from keras_ssm.data.keyword_stream import assemble_stream

OUT = os.path.join("examples", "data", "speech_commands12_test")
KEYS = ("audio", "labels", "word", "speaker", "fold", "filenames")
STREAM_WORDS = ("yes", "stop", "left", "go", "no", "down")


def read_parts(folder):
    parts = [np.load(p) for p in sorted(glob.glob(os.path.join(folder, "part*.npz")))]
    data = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
    return data, parts[0]["label_names"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the folder of the 12-class v0.02 test set's part*.npz")
    args = parser.parse_args()
    data, names = read_parts(args.data)
    test = np.flatnonzero(data["fold"] == 8)
    test = test[np.argsort(data["filenames"][test], kind="stable")]
    chosen = np.concatenate([test[data["labels"][test] == c][:10] for c in range(len(names))])
    os.makedirs(os.path.join(OUT, "stream"), exist_ok=True)
    np.savez_compressed(os.path.join(OUT, "part0.npz"), **{k: data[k][chosen] for k in KEYS},
                        label_names=names, sample_rate=np.int64(16000))
    rest = np.setdiff1d(test, chosen)
    words = [rest[data["word"][rest] == w][0] for w in STREAM_WORDS]
    noise = rest[data["word"][rest] == "_silence_"]
    audio, events = assemble_stream(data["audio"][words] / 32768.0, STREAM_WORDS, data["audio"][noise] / 32768.0,
                                    gap_seconds=(1.0, 2.0), noise_volume=0.1, seed=0)
    with wave.open(os.path.join(OUT, "stream", "keywords.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((audio * 32767).astype("<i2").tobytes())
    for event, index in zip(events, words):
        print(f"{event['start']:6.2f}-{event['end']:6.2f} s  {event['label']:5s}  {data['filenames'][index]}")
    print(f"{len(chosen)} clips -> {OUT}/part0.npz; {len(audio) / 16000:.1f} s -> {OUT}/stream/keywords.wav")


if __name__ == "__main__":
    main()
