"""Every function and class a public keras_ssm package exports has a runnable
`>>>` example in its docstring (a class: in its own docstring or `__init__`'s)."""

import importlib
import inspect

PACKAGES = [
    "keras_ssm",
    "keras_ssm.models",
    "keras_ssm.layers",
    "keras_ssm.zoo",
    "keras_ssm.export",
    "keras_ssm.data",
    "keras_ssm.training",
    "keras_ssm.ops",
    "keras_ssm.hippo",
    "keras_ssm.simulate",
    "keras_ssm.intervals",
    "keras_ssm.tuning",
    "keras_ssm.data.listops",
    "keras_ssm.data.pathfinder",
    "keras_ssm.training.pretrain",
    "keras_ssm.mel",
]

# Command-line entry points: their example is their `--help`.
EXEMPT = {"keras_ssm.data.listops.main", "keras_ssm.data.pathfinder.main"}


def exported(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith("keras_ssm"):
            yield f"{module.__name__}.{name}", obj


def has_example(obj):
    # `__doc__`, not `inspect.getdoc`: a docstring inherited from a base class
    # (Keras's own, say) shows no use of this one.
    docs = [obj.__doc__]
    if inspect.isclass(obj) and "__init__" in vars(obj):
        docs.append(vars(obj)["__init__"].__doc__)
    return any(">>>" in (doc or "") for doc in docs)


def test_every_public_name_has_an_example():
    missing = []
    for package in PACKAGES:
        for qualified, obj in exported(importlib.import_module(package)):
            if qualified not in EXEMPT and not has_example(obj):
                missing.append(qualified)
    assert not missing, "No `>>>` example in the docstring of:\n" + "\n".join(missing)
