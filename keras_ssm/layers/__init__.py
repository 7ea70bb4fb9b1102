"""The sequence layers: one per file."""

from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.dss import DSSLayer
from keras_ssm.layers.pooling import SequencePooling
from keras_ssm.layers.s4d import S4DLayer
from keras_ssm.layers.s5 import S5Layer
