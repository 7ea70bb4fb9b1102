"""keras_ssm: diagonal state-space sequence models (DSS, S4D, S5) for Keras 3."""

from keras_ssm import hippo
from keras_ssm import ops
from keras_ssm import simulate
from keras_ssm.layers.dss import DSSLayer
from keras_ssm.layers.s4d import S4DLayer
from keras_ssm.layers.s5 import S5Layer

__version__ = "0.1.0"
