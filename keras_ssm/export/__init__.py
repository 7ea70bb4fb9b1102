"""Deployment: any keras_ssm model to ONNX, LiteRT or SavedModel, in real arithmetic.

FFT and complex numbers break every exporter (ONNX Runtime has no complex
type, LiteRT no FFT). A trained diagonal SSM needs neither: its kernel is a
causal depthwise convolution and each complex mode a 2×2 real rotation
(`keras_ssm.layers.real_form`). `export_model` traces the model that way,
writes the artifact, and `verify` runs it in its own runtime against the
Keras model.

>>> from keras_ssm import export
>>> sorted(export.FORMATS)
['litert', 'onnx', 'saved_model']
"""

from keras_ssm.export.exporter import export_model
from keras_ssm.export.formats import FORMATS
from keras_ssm.export.real_arithmetic import real_arithmetic
from keras_ssm.export.runtime import ExportedModel
from keras_ssm.export.verification import verify

__all__ = ["FORMATS", "ExportedModel", "export_model", "real_arithmetic", "verify"]
