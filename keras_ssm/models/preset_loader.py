"""The hook through which the models' `from_preset` reach the preset loader.

The models sit below the zoo (the zoo builds models; the models never import
the zoo): `SSMBackbone.from_preset` and `SSMTask.from_preset` call
`load_preset`, and `keras_ssm.zoo` registers its loader here when it is
imported, which `import keras_ssm` does. keras-hub's `Backbone.from_preset`
reaches its loaders through `preset_utils` the same way.
"""

_LOADER = None


def register_preset_loader(loader):
    """Makes `loader(cls, preset, **kwargs)` the function that
    `from_preset` calls (`keras_ssm.zoo` registers `keras_ssm.zoo.from_preset`).

    Args:
        loader: a callable taking the class asked for, the preset (a name,
            folder or URL) and `from_preset`'s keyword arguments, and
            returning a model of that class.
    """
    global _LOADER
    if not callable(loader):
        raise TypeError(f"`loader` must be a callable `loader(cls, preset, **kwargs)`, got {loader!r}.")
    _LOADER = loader


def load_preset(cls, preset, **kwargs):
    """The preset `preset` loaded as a `cls`, by the registered loader.

    >>> import keras_ssm
    >>> from keras_ssm.models import SSMClassifier
    >>> load_preset(SSMClassifier, "fsdd_s5").output_shape
    (None, 10)
    """
    if _LOADER is None:
        raise RuntimeError(
            "No preset loader is registered: `import keras_ssm` (or `keras_ssm.zoo`) before calling "
            "`from_preset`; the zoo registers its loader when it is imported."
        )
    return _LOADER(cls, preset, **kwargs)
