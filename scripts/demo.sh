#!/usr/bin/env bash
# The main job: evaluates the bundled pretrained presets on the bundled test data beside each preset's
# metadata figure — the FSDD presets on the FSDD test split (300 clips) at 8 kHz and zero-shot at 4 kHz,
# the keyword spotters on 120 clips of the Speech Commands test fold at 16 kHz and zero-shot at 8 kHz,
# the Long Range Arena Text preset on 200 IMDB test reviews (as bytes), the LRA Image preset on 200 CIFAR-10
# test images (grayscale pixel sequences), the LRA ListOps preset on 200 generated test trees, the LRA
# Pathfinder preset on 200 generated 32 x 32 test images —
# then streams a digit through an FSDD preset and a 15 s keyword stream through a keyword spotter,
# chunk by chunk. KERAS_BACKEND picks the backend (default jax).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=${KERAS_BACKEND:-jax}
# On JAX and torch, TensorFlow only reads the data (tf.data): its oneDNN kernels compute nothing here, and
# their start-up notice is printed before TF_CPP_MIN_LOG_LEVEL applies.
[ "$KERAS_BACKEND" = tensorflow ] || export TF_ENABLE_ONEDNN_OPTS=0
python=.venv/bin/python
$python -m keras_ssm zoo list
echo
echo "Evaluating the FSDD presets on examples/data/fsdd_test (the FSDD test split, CC BY-SA 4.0)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/fsdd_test --rate 8000 --rate 4000 --verbose 0
echo
echo "Evaluating the keyword spotters on examples/data/speech_commands12_test (120 Speech Commands test-fold clips, CC BY 4.0)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/speech_commands12_test --rate 16000 --rate 8000 --verbose 0
echo
echo "Evaluating the LRA Text preset on examples/data/imdb_test (200 IMDB test reviews, Maas et al. 2011)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/imdb_test --verbose 0
echo
echo "Evaluating the LRA Image preset on examples/data/cifar10_test (200 CIFAR-10 test images, Krizhevsky 2009; JPEG-recoded)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/cifar10_test --verbose 0
echo
echo "Evaluating the LRA ListOps preset on examples/data/listops_test (200 test trees of keras_ssm's ListOps generator, seed 0)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/listops_test --verbose 0
echo
echo "Evaluating the LRA Pathfinder preset on examples/data/pathfinder32_test (200 test images of keras_ssm's Pathfinder generator, release mode, seed 0)..."
$python -m keras_ssm zoo evaluate --all --data examples/data/pathfinder32_test --verbose 0
echo
$python -m keras_ssm zoo stream fsdd_s5 --wav examples/data/fsdd_test/stream/7_jackson_0.wav --chunk-ms 100
echo
echo "Keywords spoken in the stream: yes 1.64 s, stop 3.91 s, left 5.95 s, go 7.96 s, no 10.78 s, down 13.69 s (start times)"
$python -m keras_ssm zoo stream speech_commands12_s4d --wav examples/data/speech_commands12_test/stream/keywords.wav --chunk-ms 20
