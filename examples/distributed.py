"""Data-parallel training of a keras_ssm classifier over several processes / hosts.

Keras 3's `keras.distribution` does the work (JAX backend): every process
calls `keras.distribution.initialize` with the coordinator's address (process
0's host and a free port), the number of processes and its own id, before
anything touches JAX; then `DataParallel` spans the devices of all the
processes, each process feeds its share of every global batch (Keras shards
the `tf.data` pipeline by process), and the gradients are averaged across
processes by XLA's collectives.

Two hosts, one process each (process 0 runs on 10.0.0.1):

    # on 10.0.0.1
    KERAS_BACKEND=jax python examples/distributed.py --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0 --out run
    # on the other host
    KERAS_BACKEND=jax python examples/distributed.py --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 1 --out run

Two processes on one machine (CPU; what the tests run): the same, with
`--coordinator 127.0.0.1:PORT`. The same variables can come from the
environment instead of the flags (`KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`).
`--num-processes 1` trains the same model on one device without any
distribution: the reference the distributed run must match.

Every process prints one JSON line (its losses per epoch, its devices).
Every process saves the model — the save waits on all of them — process 0
to `OUT/model.keras` (the one to keep: an ordinary checkpoint that loads on
one device, `keras.saving.load_model` with no distribution), the others to
`OUT/process_<i>/`. Keras warns "Your input ran out of data" once per epoch
across processes (the per-process dataset has no known length); every step
runs, as the losses show.
"""

import argparse
import contextlib
import json
import os

import keras
import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coordinator", help="HOST:PORT of process 0 (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES)")
    parser.add_argument("--num-processes", type=int, help="number of processes (default: from the environment, or 1)")
    parser.add_argument("--process-id", type=int, help="this process's id, 0 .. N-1 (0 is the coordinator)")
    parser.add_argument("--out", default="runs/distributed", help="where process 0 writes model.keras and probe.npz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch (all processes together)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_data(seed, n=64, length=32):
    """A toy task: is the running sum of the signal positive at the end?"""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, length, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int32")
    return x, y


def main(argv=None):
    args = parse_args(argv)
    if keras.backend.backend() != "jax":
        raise SystemExit("keras.distribution needs KERAS_BACKEND=jax (see keras_ssm/training/distribution.py).")
    num_processes = args.num_processes or int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", 1))
    if num_processes > 1:
        # First, before any JAX computation: join the cluster.
        keras.distribution.initialize(
            job_addresses=args.coordinator, num_processes=num_processes, process_id=args.process_id
        )
    import jax
    import tensorflow as tf

    from keras_ssm.models import SSMBackbone, SSMClassifier
    from keras_ssm.training import build_optimizer
    from keras_ssm.training.distribution import describe, make_distribution

    distribution = make_distribution({"type": "data_parallel"}) if num_processes > 1 else None
    process_id = jax.process_index()
    x, y = make_data(args.seed)
    # The global dataset, the same in every process: Keras gives each
    # process its part of every batch (`distribution.distribute_dataset`).
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size, drop_remainder=True)
    keras.utils.set_random_seed(args.seed)  # the same initial weights in every process
    with distribution.scope() if distribution else contextlib.nullcontext():
        backbone = SSMBackbone("s5", depth=2, width=16, input_dim=1, layer_kwargs={"state_dim": 8}, norm="layer")
        model = SSMClassifier(backbone, num_classes=2)
        steps = len(x) // args.batch_size
        model.compile(
            optimizer=build_optimizer(3e-3, 1e-3, 0.01, warmup_steps=0, total_steps=args.epochs * steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        history = model.fit(train, epochs=args.epochs, verbose=0, shuffle=False)
        # The variables are replicated: every process holds all of them, and
        # process 0 writes the checkpoint. (`model.predict` does not work
        # across processes in Keras 3.15: its batch-split outputs cannot be
        # fetched to numpy; load the checkpoint on one device to predict.)
        target = args.out if process_id == 0 else os.path.join(args.out, f"process_{process_id}")
        os.makedirs(target, exist_ok=True)
        model.save(os.path.join(target, "model.keras"))
    result = {
        "process_id": process_id,
        "num_processes": jax.process_count(),
        "devices": [str(d) for d in jax.devices()],
        "local_devices": [str(d) for d in jax.local_devices()],
        "distribution": describe(distribution),
        "losses": [float(v) for v in history.history["loss"]],
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
