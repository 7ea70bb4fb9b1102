"""A tiny FSDD-layout recordings folder that the tests write (no real data)."""

import os
import wave

import numpy as np


def write_wav(path, samples, rate=8000):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(samples, "<i2").tobytes())


def write_fsdd(folder, digits=3, repetitions=13, length=400):
    """`folder/recordings/<digit>_spk_<index>.wav`: a tone per digit with a
    little noise, repetitions 0-12 (test 0-4, validation 5-9, train 10-12)."""
    root = os.path.join(folder, "recordings")
    os.makedirs(root)
    rng = np.random.default_rng(0)
    t = np.arange(length) / 8000
    for digit in range(digits):
        for index in range(repetitions):
            tone = 0.3 * np.sin(2 * np.pi * (300 + 400 * digit) * t) + 0.01 * rng.standard_normal(length)
            write_wav(os.path.join(root, f"{digit}_spk_{index}.wav"), tone * 32767)
    return folder
