"""S4D's initialization study, reproduced with keras-tuner on spoken digits.

    python examples/tune_inits.py --data ../shared/data/fsdd
    python examples/tune_inits.py --epochs 4 --executions 1     # quicker

The S4D paper (Gu et al. 2022, Table 3 and Sec. 5) finds that the diagonal
inits derived from HiPPO (S4D-LegS, S4D-Inv, S4D-Lin) train better than a
random diagonal state matrix. This example runs a `keras_tuner.GridSearch`
with `keras_ssm.tuning.SSMHyperModel` over `init` alone, every other choice
fixed (a 2-layer unidirectional S4D classifier of the raw waveform of
the Free Spoken Digit Dataset resampled to 2 kHz, sequences of 500-2,000 samples), each init
trained `--executions` times from different seeds. The table reports the
validation accuracy keras-tuner scores each trial by (the best epoch,
averaged over executions) and the test accuracy of the trial's best model.

Keras prints its progress bars; the tuner's folder keeps every trial, and
`examples/results/tune_inits.{json,md}` the table (committed).
"""

import argparse
import json
import os
import time

import keras
import keras_tuner

from keras_ssm import data as ssm_data
from keras_ssm.tuning import SSMHyperModel

INITS = ["legs", "inv", "lin", "random"]
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fsdd", help="FSDD folder (recordings/ or npz)")
    parser.add_argument("--sample-rate", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--executions", type=int, default=2, help="trainings per init (different seeds)")
    parser.add_argument("--directory", default="runs/tune_inits", help="keras-tuner folder")
    parser.add_argument("--out", default=RESULTS, help="where tune_inits.json / .md go")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    task = ssm_data.load("fsdd", args.data, sample_rate=args.sample_rate, batch_size=32, seed=0)
    steps = int(task.train.cardinality())
    hypermodel = SSMHyperModel(
        task.num_classes,
        input_shape=task.input_shape,
        steps_per_epoch=steps,
        epochs=args.epochs,
        layer="s4d",
        init=INITS,
        depth=2,
        width=64,
        state_dim=64,
        discretization="zoh",
        dt_min=1e-3,
        dt_max=1e-1,
        bidirectional=False,
        norm="batch",
        prenorm=False,
        activation="half_glu1",
        dropout=0.1,
        lr=4e-3,
        ssm_lr=1e-3,
        weight_decay=0.05,
    )
    tuner = keras_tuner.GridSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=len(INITS),
        executions_per_trial=args.executions,
        directory=args.directory,
        project_name=f"fsdd{args.sample_rate}_e{args.epochs}_x{args.executions}",
        seed=0,
    )
    start = time.time()
    tuner.search(task.train, validation_data=task.validation, epochs=args.epochs)
    minutes = (time.time() - start) / 60

    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        model = tuner.load_model(trial)
        _, test_accuracy = model.evaluate(task.test, verbose=0)
        rows.append(
            {
                "init": trial.hyperparameters.get("s4d_init"),
                "val_accuracy": float(trial.score),
                "test_accuracy": float(test_accuracy),
            }
        )
    rows.sort(key=lambda row: -row["val_accuracy"])
    result = {
        "task": f"fsdd at {args.sample_rate} Hz (train {steps} batches of 32)",
        "model": "SSMClassifier: 2 x S4D (H 64, N 64, unidirectional, zoh, dt 1e-3..1e-1), batch norm, half_glu1",
        "epochs": args.epochs,
        "executions_per_trial": args.executions,
        "backend": keras.backend.backend(),
        "minutes": round(minutes, 1),
        "rows": rows,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tune_inits.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    table = "\n".join(
        ["| init | val accuracy (keras-tuner score) | test accuracy |", "|---|---|---|"]
        + [f"| {r['init']} | {r['val_accuracy']:.3f} | {r['test_accuracy']:.3f} |" for r in rows]
    )
    text = (
        f"# S4D init study on {result['task']}\n\n{result['model']}; {args.epochs} epochs, "
        f"{args.executions} execution(s) per init, {result['backend']} backend, {result['minutes']} min.\n\n"
        f"{table}\n\nRegenerate: `python examples/tune_inits.py --epochs {args.epochs} "
        f"--executions {args.executions}`.\n"
    )
    with open(os.path.join(args.out, "tune_inits.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
