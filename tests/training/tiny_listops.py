"""A tiny generated ListOps set and the recipe that trains a one-block model
on it: what the recipe and distribution tests run end to end."""

from keras_ssm.data import listops


def write_listops(tmp_path_factory, train, max_length):
    """Writes `train` / 16 / 16 generated ListOps examples; returns the folder."""
    folder = tmp_path_factory.mktemp("listops")
    listops.write_dataset(str(folder), train, 16, 16, seed=0, min_length=10, max_length=max_length)
    return str(folder)


def tiny_recipe(data_dir, layer, extra_data=None, extra_optimizer=None, **overrides):
    """A 2-epoch recipe of one `layer` block (width 16, state 8) on `data_dir`;
    `extra_data` / `extra_optimizer` extend those sections, `overrides` replace
    top-level ones (a whole section too)."""
    recipe = {
        "name": "tiny",
        "seed": 0,
        "epochs": 2,
        "data": {"task": "listops", "path": data_dir, **(extra_data or {})},
        "model": {"layer": layer, "depth": 1, "width": 16, "layer_kwargs": {"state_dim": 8}, "norm": "layer"},
        "optimizer": {"lr": 3e-3, "ssm_lr": 1e-3, "weight_decay": 0.01, **(extra_optimizer or {})},
    }
    recipe.update(overrides)
    return recipe
