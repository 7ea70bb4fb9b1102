"""Where a recipe's stages train: stage 1 into `--out OUT` itself, stage k
into the sibling `OUT_stage<k>`. The training chain
(`keras_ssm.training.recipe.train_stages`) writes there; publishing and the
cards' commands read there.
"""

import os


def stage_dir(out_dir, k):
    """The folder of stage `k` of a run into `out_dir`: `out_dir` itself for
    stage 1, the sibling `<out_dir>_stage<k>` for a later one.

    >>> stage_dir("runs/lra_listops_s5", 1), stage_dir("runs/lra_listops_s5/", 3)
    ('runs/lra_listops_s5', 'runs/lra_listops_s5_stage3')
    """
    out_dir = os.path.normpath(out_dir)
    return out_dir if k == 1 else f"{out_dir}_stage{k}"


def run_folder(runs, name, stage):
    """Where `python -m keras_ssm train examples/recipes/NAME.json --out RUNS/NAME`
    trains stage `stage` of preset `name`: `RUNS/NAME`, `RUNS/NAME_stage<k>`.

    >>> run_folder("runs", "lra_text_s4d", 1)
    'runs/lra_text_s4d'
    """
    return stage_dir(os.path.join(runs, name), stage)
