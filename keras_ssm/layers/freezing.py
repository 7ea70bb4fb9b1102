"""Keeping `trainable` flags through `get_config` / `from_config`.

The keras_ssm composites (`SSMBlock`, `SSMBackbone`, the task models) rebuild
their sublayers from their own arguments, not from the sublayers' configs, so
a sublayer's `trainable` flag would be lost by a save / load round trip: a
frozen backbone would come back trainable. Each composite therefore lists its
frozen sublayers in its config (`FROZEN_KEY`, only when there is one, so that
the configs of untouched models stay as they were) and freezes them again
when it is rebuilt.

A sublayer is named by a path of keys that do not depend on Keras's global
name counter (an SSM layer built without a name is `s5_layer_3` in one
process and `s5_layer` in another): the attribute that holds it when there is
one (`"layer"`, `"norm"`, `"head"`), else its name (the explicit names of a
functional model's layers, `"block_0"`).
"""

import keras

FROZEN_KEY = "frozen_layers"


def _children(layer):
    """`(key, child)` for each direct sublayer of `layer`."""
    by_id = {}
    # torch keeps a module's sub-modules in `_modules`, not in its `__dict__`.
    attributes = list(vars(layer).items()) + list(getattr(layer, "_modules", {}).items())
    for attribute, value in attributes:
        if isinstance(value, keras.layers.Layer):
            by_id.setdefault(id(value), attribute)
    return [(by_id.get(id(child), child.name), child) for child in layer._flatten_layers(include_self=False, recursive=False)]


def frozen_sublayers(layer, skip=()):
    """The paths (`"block_0/norm"`) of the frozen sublayers of a trainable
    `layer`: the outermost ones only, as freezing a layer freezes everything
    inside it. Sublayers in `skip` (those that keep their own flags in their
    own config, such as a task's backbone) are listed if frozen but not
    searched.

    Example:
    >>> from keras_ssm.layers.block import SSMBlock
    >>> block = SSMBlock("s5", layer_kwargs={"state_dim": 4})
    >>> block.norm.trainable = False
    >>> frozen_sublayers(block)
    ['norm']
    """
    if not layer.trainable:
        return []
    skip_ids = {id(s) for s in skip}
    paths = []

    def visit(parent, prefix):
        for key, child in _children(parent):
            if isinstance(child, keras.layers.InputLayer):
                continue  # no weights; TensorFlow freezes a shared one with the model
            if not child.trainable:
                paths.append(prefix + key)
            elif id(child) not in skip_ids:
                visit(child, prefix + key + "/")

    visit(layer, "")
    return paths


def freeze_sublayers(layer, paths):
    """Sets `trainable = False` on the sublayers of `layer` at `paths` (from
    `frozen_sublayers`), and on every sublayer if `layer` itself is frozen:
    a functional model's constructor sets only its own flag, not that of the
    layers it is built from.

    Example:
    >>> from keras_ssm.layers.block import SSMBlock
    >>> block = SSMBlock("s4d", layer_kwargs={"state_dim": 4})
    >>> freeze_sublayers(block, ["layer"])
    >>> block.layer.trainable, block.norm.trainable
    (False, True)
    """
    if not layer.trainable:
        # The setter reaches every sublayer. It is called directly: on
        # TensorFlow, `layer.trainable = False` is skipped when the flag is
        # already False (a tf.Module ignores setting an attribute to itself).
        type(layer).trainable.fset(layer, False)
    for path in paths or ():
        target = layer
        for key in path.split("/"):
            children = dict(_children(target))
            if key not in children:
                raise ValueError(
                    f"`{FROZEN_KEY}` names {path!r}, but {target.name!r} has no sublayer {key!r} "
                    f"(it has {sorted(children)}): the config does not match the model it builds."
                )
            target = children[key]
        target.trainable = False
