"""Train one SSM family on spoken digits (FSDD, raw audio) and report test accuracy.

    python examples/spoken_digits.py --layer s4d --data ../shared/data/fsdd
    python examples/spoken_digits.py --layer dss --epochs 10
    python examples/spoken_digits.py --layer s5 --sample-rate 4000

The Free Spoken Digit Dataset (6 speakers, 3,000 recordings of the digits
0-9, 8 kHz) is read from its `recordings/` folder or the npz files of
`../shared/data/fsdd` (see `keras_ssm.data.load_spoken_digits`). The model is
the papers' classifier: a Dense encoder of the raw waveform, residual SSM
blocks (batch norm, GELU/GLU, dropout), masked mean pooling, and the SSM
optimizer groups with warmup + cosine decay. Keras prints progress bars;
the run folder keeps `best.keras`, `metrics.csv` and `summary.json`, and an
interrupted run resumes where it stopped.
"""

import argparse
import json

from keras_ssm.training import recipe

LAYERS = {
    "s4d": {"state_dim": 64, "init": "legs", "bidirectional": True},
    "dss": {"state_dim": 32, "variant": "exp", "bidirectional": True},
    "s5": {"state_dim": 32, "blocks": 4, "bidirectional": True},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", choices=sorted(LAYERS), default="s4d")
    parser.add_argument("--data", default="../shared/data/fsdd", help="FSDD folder (recordings/ or npz)")
    parser.add_argument("--sample-rate", type=int, default=4000, help="resample the 8 kHz audio to this rate")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", help="run folder (default runs/fsdd-<layer>)")
    args = parser.parse_args()
    spec = {
        "name": f"fsdd-{args.layer}",
        "seed": 0,
        "epochs": args.epochs,
        "data": {"task": "fsdd", "path": args.data, "sample_rate": args.sample_rate, "batch_size": 16},
        "model": {
            "layer": args.layer,
            "depth": 3,
            "width": 64,
            "layer_kwargs": LAYERS[args.layer],
            "norm": "batch",
            "activation": "half_glu1",
            "dropout": 0.1,
            "pooling": "mean",
        },
        "optimizer": {"lr": 4e-3, "ssm_lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 1},
    }
    summary = recipe.train(spec, args.out or f"runs/fsdd-{args.layer}")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
