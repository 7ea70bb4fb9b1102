"""The LRA recipe audit (issue #30): the first steps of candidate configurations, point by point.

Each *arm* is the base recipe with a few fields changed (`ARMS`). An arm is built and compiled by the
recipe's own builders, with the schedule of its planned long run (`--planned-epochs`), then trained
for `--epochs` (a fraction of an epoch is allowed) and scored on the whole validation split
`--checks` times along the way. Nothing here reads the test split.

    python -m benchmarks lra_audit --arms P A B C --epochs 0.5 --checks 4 --out ../runs/audit
    python -m benchmarks lra_audit --arms P A B C --probe 12          # tokens/s only, no validation
    python -m benchmarks lra_audit --task text --arms T0 T3 --probe 8 --out ../runs/audit
    python -m benchmarks lra_audit --task pathfinder32 --data DIR --probe 8 --out ../runs/audit

Every arm writes one CSV row per check: the fraction of an epoch seen, the training loss of the
steps since the last check, the validation accuracy with its 95 % interval, and the training
tokens per second of those steps (validation time excluded). An arm in `PRETRAIN_SHARE` spends that
share of its steps (whole checks) on the recipe's self-pretraining first, and is scored from then on. The
probe times `--probe` steps after two warm-up steps and scores nothing.

The Text and Pathfinder arms (`--task text`, `--task pathfinder32`; docs/zoo/lra_text_pathfinder_audit.md)
probe differently: the first `--probe` batches are taken once and kept, one pass over them compiles every
padded shape (Text's batches are length-bucketed; Pathfinder warms up on two of them), and a second pass
over the same batches is timed. `tokens_per_s` then counts real tokens (padding excluded, as the zoo's
training records do) and `padded_tokens_per_s` every position the model ran. `--data` points an arm at
another copy of its data (e.g. a small generated Pathfinder set for the probe).
"""

import argparse
import csv
import json
import os
import time

from keras_ssm.training.recipe import _merged
from keras_ssm.intervals import wilson_interval

IMAGE = "examples/recipes/lra_image_s5.json"
TEXT = "examples/recipes/lra_text_s4d.json"
PATHFINDER = "examples/recipes/lra_pathfinder32_s5.json"
BASES = {"image": IMAGE, "text": TEXT, "pathfinder32": PATHFINDER}
# Tasks whose batches are length-bucketed (their probe counts real tokens).
VARIABLE_LENGTH = ("text",)
# The audit sees a fraction of an epoch: every arm warms up over the same 0.2 epoch.
AUDIT_WARMUP = 0.2
ARMS = {
    "image": {
        # The published preset's model and optimizer (stage 1).
        "P": {},
        # S4's small-model optimizer on the preset's model: lr 1e-2, wd 0.01, SSM parameters at 1e-3 undecayed.
        "A": {"optimizer": {"lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01, "groups": "standard"}},
        # A at width 128.
        "B": {"model": {"width": 128},
              "optimizer": {"lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01, "groups": "standard"}},
        # S4's example.py: S4D-Lin 4 x 128, N 64, causal, post-LayerNorm, GELU + GLU, dropout 0.1.
        "C": {"model": {"layer": "s4d", "width": 128, "norm": "layer", "prenorm": False, "activation": "glu",
                        "layer_kwargs": {"state_dim": 64, "init": "lin"}},
              "optimizer": {"lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01, "groups": "standard"}},
        # A after masked self-pretraining (50 % of the pixels, Amos et al. 2024) for the first
        # PRETRAIN_SHARE["D"] of its steps: the same training steps as A in all (issue #32's LRA arm).
        "D": {"optimizer": {"lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01, "groups": "standard"},
              "pretrain": {"epochs": 20, "mask_ratio": 0.5}},
        # C, bidirectional (LRA's Image models are).
        "Cb": {"model": {"layer": "s4d", "width": 128, "norm": "layer", "prenorm": False, "activation": "glu",
                         "layer_kwargs": {"state_dim": 64, "init": "lin", "bidirectional": True}},
               "optimizer": {"lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01, "groups": "standard"}},
    },
    # LRA Text (docs/zoo/lra_text_pathfinder_audit.md). Base: `lra_text_s4d` (S4D-LegS 4 x 64, N 4,
    # causal, pre-BatchNorm, half-GLU, dropout 0.1; lr 5e-3, SSM lr 1e-3, wd 0.05, dt at the global rate).
    "text": {
        # The published preset's model and optimizer (stage 1).
        "T0": {},
        # S4's Text optimizer and dropout (configs/experiment/lra/s4-imdb.yaml): lr 1e-2, dropout 0.
        "T1": {"model": {"dropout": 0.0}, "optimizer": {"lr": 0.01}},
        # T1, bidirectional (S4's and S5's Text models are).
        "T2": {"model": {"dropout": 0.0, "layer_kwargs": {"state_dim": 4, "bidirectional": True}},
               "optimizer": {"lr": 0.01}},
        # T2 at width 128.
        "T3": {"model": {"width": 128, "dropout": 0.0, "layer_kwargs": {"state_dim": 4, "bidirectional": True}},
               "optimizer": {"lr": 0.01}},
        # T3 with S4's block output: GELU, then Linear(H -> 2H) and GLU.
        "T4": {"model": {"width": 128, "dropout": 0.0, "activation": "glu",
                         "layer_kwargs": {"state_dim": 4, "bidirectional": True}},
               "optimizer": {"lr": 0.01}},
        # T3 after masked self-pretraining (15 % of the bytes, Amos et al. 2024) for PRETRAIN_SHARE["T5"]
        # of its steps.
        "T5": {"model": {"width": 128, "dropout": 0.0, "layer_kwargs": {"state_dim": 4, "bidirectional": True}},
               "optimizer": {"lr": 0.01}, "pretrain": {"epochs": 20, "mask_ratio": 0.15}},
        # T3 with N 64 (DSS's and annotated-s4's state size for Text; S4's config has N 4).
        "T6": {"model": {"width": 128, "dropout": 0.0, "layer_kwargs": {"state_dim": 64, "bidirectional": True}},
               "optimizer": {"lr": 0.01}},
    },
    # LRA Pathfinder-32 (same page). Base: `lra_pathfinder32_s5` (S5 4 x 64, P 16 in 4 blocks (8 complex
    # modes), bidirectional, pre-BatchNorm momentum 0.9, half-GLU, dropout 0; lr 4.5e-3, SSM lr 9e-4,
    # wd 0.03: the S5 paper's Pathfinder optimizer).
    "pathfinder32": {
        # The published preset's model and optimizer (stage 1).
        "F0": {},
        # S5's state per feature: P 64 in 8 blocks (32 modes; S5 has P 256, J 8 at width 192), dropout 0.05.
        "F1": {"model": {"dropout": 0.05,
                         "layer_kwargs": {"state_dim": 64, "blocks": 8, "bidirectional": True,
                                          "c_init": "trunc_standard"}}},
        # F1 at width 128.
        "F2": {"model": {"width": 128, "dropout": 0.05,
                         "layer_kwargs": {"state_dim": 64, "blocks": 8, "bidirectional": True,
                                          "c_init": "trunc_standard"}}},
        # F1 at depth 6 (S5's and S4's depth).
        "F3": {"model": {"depth": 6, "dropout": 0.05,
                         "layer_kwargs": {"state_dim": 64, "blocks": 8, "bidirectional": True,
                                          "c_init": "trunc_standard"}}},
        # S4's Pathfinder model scaled to 4 x 128 (configs/experiment/lra/s4-pathfinder.yaml with mode=diag):
        # S4D-LegS N 64, bidirectional, pre-BatchNorm, GELU + GLU, dropout 0; lr 4e-3, SSM lr 1e-3, wd 0.05.
        "F4": {"model": {"layer": "s4d", "width": 128, "dropout": 0.0, "activation": "glu", "norm_momentum": 0.9,
                         "layer_kwargs": {"state_dim": 64, "init": "legs", "bidirectional": True}},
               "optimizer": {"lr": 0.004, "ssm_lr": 0.001, "weight_decay": 0.05, "groups": "standard"}},
        # F4 with S4D-Lin (the Image audit's fastest starter, arm C).
        "F5": {"model": {"layer": "s4d", "width": 128, "dropout": 0.0, "activation": "glu", "norm_momentum": 0.9,
                         "layer_kwargs": {"state_dim": 64, "init": "lin", "bidirectional": True}},
               "optimizer": {"lr": 0.004, "ssm_lr": 0.001, "weight_decay": 0.05, "groups": "standard"}},
        # F1 after masked self-pretraining (50 % of the pixels) for PRETRAIN_SHARE["F6"] of its steps.
        "F6": {"model": {"dropout": 0.05,
                         "layer_kwargs": {"state_dim": 64, "blocks": 8, "bidirectional": True,
                                          "c_init": "trunc_standard"}},
               "pretrain": {"epochs": 20, "mask_ratio": 0.5}},
    },
}


# The share of an arm's steps spent on self-pretraining (the rest fine-tunes the classifier).
# Arm names are unique across tasks.
PRETRAIN_SHARE = {"D": 0.5, "T5": 0.5, "F6": 0.5}


def arm_recipe(base, overrides, planned_epochs, data_path=None):
    """The stage-1 recipe of one arm: `overrides` over the base file's stage 1
    (its data read from `data_path` when given)."""
    from keras_ssm.training.recipe import parse_recipe

    with open(base, encoding="utf-8") as f:
        raw = json.load(f)
    raw = {key: value for key, value in raw.items() if key != "stages"}
    raw["data"]["path"] = os.path.join(os.path.dirname(os.path.abspath(base)), raw["data"]["path"])
    if data_path:
        raw["data"]["path"] = os.path.abspath(data_path)
    raw = _merged(raw, {"epochs": planned_epochs, "optimizer": {"warmup_epochs": AUDIT_WARMUP}})
    if "layer" in overrides.get("model", {}):  # another layer kind takes none of the base layer's arguments
        raw["model"]["layer_kwargs"] = {}
    return parse_recipe(_merged(raw, overrides))


class _TrainTimer:
    """Seconds spent in training steps (not validation) since the last `take()`."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                timer._begin = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                timer.seconds += time.perf_counter() - timer._begin
                timer.steps += 1

        self.callback = Callback()
        self.seconds, self.steps, self._begin = 0.0, 0, 0.0

    def take(self):
        seconds, steps = self.seconds, self.steps
        self.seconds, self.steps = 0.0, 0
        return seconds, steps


def batch_tokens(inputs):
    """(real, padded) positions of one batch's inputs: token ids count where non-zero (0 = padding),
    continuous inputs `(batch, length, channels)` everywhere."""
    import numpy as np

    inputs = np.asarray(inputs)
    padded = inputs.shape[0] * inputs.shape[1]
    real = int(np.count_nonzero(inputs)) if inputs.ndim == 2 else padded
    return real, padded


def probe_fixed(model, train, probe, variable_length):
    """Seconds, steps and (real, padded) tokens of one timed pass over the first `probe` batches of
    `train`, after a warm-up over them (all of them when their lengths vary, else two)."""
    fixed = train.take(probe).cache()
    real = padded = 0
    for inputs, _ in fixed.as_numpy_iterator():  # fills the cache
        r, p = batch_tokens(inputs)
        real, padded = real + r, padded + p
    timer = _TrainTimer()
    model.fit(fixed if variable_length else fixed.take(2), epochs=1, verbose=0)  # compile every shape
    timer.take()
    model.fit(fixed, epochs=1, verbose=0, callbacks=[timer.callback])
    seconds, steps = timer.take()
    return seconds, steps, real, padded


def pretrain(model, recipe, data, steps, steps_per_epoch):
    """`steps` steps of the recipe's self-pretraining of `model.backbone`
    (the objective of `keras_ssm.training.pretrain`, the schedule of its
    `pretrain` section), the weights copied back into the backbone."""
    from keras_ssm.training import pretrain as pretrain_lib
    from keras_ssm.training.recipe import make_optimizer

    spec = recipe["pretrain"]
    pretrainer = pretrain_lib.SSMPretrainer(model.backbone, objective=pretrain_lib.default_objective(model.backbone),
                                            mask_ratio=spec["mask_ratio"] or 0.5, seed=recipe["seed"])
    pretrainer.compile(optimizer=make_optimizer(spec, spec["epochs"], steps_per_epoch))
    pretrainer.fit(pretrain_lib.pretraining_inputs(data.train).repeat(), steps_per_epoch=steps, epochs=1, verbose=2)
    pretrain_lib.copy_backbone_weights(pretrainer.pretrained_backbone(), model.backbone)


def run_arm(name, recipe, epochs, checks, probe, writer, out):
    import keras

    from keras_ssm.training.recipe import build_model, compile_model, load_data, _steps

    keras.utils.set_random_seed(recipe["seed"])
    data = load_data(recipe)
    steps_per_epoch = _steps(data.train)
    model = build_model(recipe, data)
    compile_model(model, recipe, steps_per_epoch)
    batch, length = recipe["data"]["batch_size"], data.max_length
    timer = _TrainTimer()
    train = data.train.repeat()
    common = dict(arm=name, backend=keras.backend.backend(), layer=recipe["model"]["layer"],
                  width=recipe["model"]["width"], parameters=None)
    if probe and data.task != "image":
        seconds, steps, real, padded = probe_fixed(model, data.train, probe, data.task in VARIABLE_LENGTH)
        row = {**common, "parameters": model.count_params(), "epoch": "", "loss": "", "val_accuracy": "",
               "val_low": "", "val_high": "", "tokens_per_s": round(real / seconds),
               "padded_tokens_per_s": round(padded / seconds)}
        writer.writerow(row)
        print(json.dumps(row), flush=True)
        return
    if probe:
        model.fit(train, steps_per_epoch=2, epochs=1, verbose=0)  # compile
        timer.take()
        model.fit(train, steps_per_epoch=probe, epochs=1, verbose=0, callbacks=[timer.callback])
        seconds, steps = timer.take()
        row = {**common, "parameters": model.count_params(), "epoch": "", "loss": "", "val_accuracy": "",
               "val_low": "", "val_high": "", "tokens_per_s": round(steps * batch * length / seconds)}
        writer.writerow(row)
        print(json.dumps(row), flush=True)
        return
    tokens_per_step = batch * length
    if data.task in VARIABLE_LENGTH:  # the mean real tokens of a training batch, padding excluded
        tokens_per_step = sum(batch_tokens(x)[0] for x, _ in data.train.as_numpy_iterator()) / steps_per_epoch
    per_check = max(1, round(epochs * steps_per_epoch / checks))
    # Pretraining takes the first checks' steps: the arm trains as many steps as the others in all.
    pretrained = round(PRETRAIN_SHARE.get(name, 0.0) * checks)
    if pretrained:
        pretrain(model, recipe, data, pretrained * per_check, steps_per_epoch)
    n_val = data.num_examples["validation"]
    for k in range(pretrained + 1, checks + 1):
        history = model.fit(train, steps_per_epoch=per_check, epochs=1, verbose=2, callbacks=[timer.callback])
        seconds, steps = timer.take()
        _, accuracy = model.evaluate(data.validation, verbose=0)
        low, high = wilson_interval(round(accuracy * n_val), n_val)
        row = {**common, "parameters": model.count_params(), "epoch": round(k * per_check / steps_per_epoch, 3),
               "loss": round(history.history["loss"][-1], 4), "val_accuracy": round(accuracy, 4),
               "val_low": round(low, 4), "val_high": round(high, 4),
               "tokens_per_s": round(steps * tokens_per_step / seconds)}
        writer.writerow(row)
        print(json.dumps(row), flush=True)
    model.save(os.path.join(out, f"{name}.keras"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks lra_audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="image", choices=sorted(ARMS))
    parser.add_argument("--arms", nargs="+", default=None, help="arm names (default: all of the task's)")
    parser.add_argument("--epochs", type=float, default=0.5, help="training epochs per arm (fractions allowed)")
    parser.add_argument("--checks", type=int, default=4, help="validation checks per arm")
    parser.add_argument("--planned-epochs", type=int, default=20, help="the long run's schedule length")
    parser.add_argument("--probe", type=int, default=0, help="time this many steps per arm; no validation")
    parser.add_argument("--out", required=True, help="folder of the CSV and the arms' models (outside git)")
    parser.add_argument("--data", default=None, help="read the task's data from this folder instead of the recipe's")
    args = parser.parse_args(argv)
    base = BASES[args.task]
    arms = args.arms or list(ARMS[args.task])
    unknown = sorted(set(arms) - set(ARMS[args.task]))
    if unknown:
        parser.error(f"--arms: unknown {unknown}; the {args.task} arms are {sorted(ARMS[args.task])}")
    os.makedirs(args.out, exist_ok=True)
    import keras

    path = os.path.join(args.out, f"{args.task}_{'probe' if args.probe else 'curve'}_{keras.backend.backend()}.csv")
    fields = ["arm", "backend", "layer", "width", "parameters", "epoch", "loss", "val_accuracy", "val_low",
              "val_high", "tokens_per_s"] + (["padded_tokens_per_s"] if args.task != "image" else [])
    new = not os.path.exists(path)
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        for name in arms:
            recipe = arm_recipe(base, ARMS[args.task][name], args.planned_epochs, args.data)
            run_arm(name, recipe, args.epochs, args.checks, args.probe, writer, args.out)
            f.flush()


if __name__ == "__main__":
    main()
