"""Presets: trained keras_ssm models saved with their metadata, verified on load.

A preset is a folder holding `config.json` (the model config, loaded with
`safe_mode=True`), `model.weights.h5`, `metadata.json` (task, labels, input
spec, test metrics, the command that reproduces them, the sha256 of every
other file) and usually a `README.md` model card. A preset is named by a
bundled name (`list_presets()`), a local folder, or a `file://` /
`http(s)://` URL of a folder, downloaded once into `$KERAS_SSM_HOME`
(default `~/.keras/keras_ssm`).

>>> from keras_ssm import zoo
>>> isinstance(zoo.list_presets(), list)
True
"""

from keras_ssm.zoo.errors import PresetError
from keras_ssm.zoo.loading import describe, from_preset, load
from keras_ssm.zoo.registry import list_presets, preset_path
from keras_ssm.zoo.saving import save_preset

__all__ = ["PresetError", "describe", "from_preset", "list_presets", "load", "preset_path", "save_preset"]
