"""keras_ssm: diagonal state-space sequence models (DSS, S4D, S5) for Keras 3.

Layers: `DSSLayer`, `S4DLayer`, `S5Layer` (and the residual `SSMBlock`);
models: `SSMBackbone`, `SSMClassifier`, `SSMRetrievalClassifier` (and in
`keras_ssm.models` the text preprocessors `ByteTokenizer`, `ListOpsTokenizer`);
modules: `ops` (the hot operations), `hippo` (initialisations), `simulate`
(float64 reference recurrence), `training` (the papers' optimizer groups),
`zoo` (trained presets: `zoo.load(name)`).
"""

from keras_ssm import hippo
from keras_ssm import models
from keras_ssm import ops
from keras_ssm import simulate
from keras_ssm import training
from keras_ssm import zoo
from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.dss import DSSLayer
from keras_ssm.layers.s4d import S4DLayer
from keras_ssm.layers.s5 import S5Layer
from keras_ssm.models import SSMBackbone, SSMClassifier, SSMRetrievalClassifier
from keras_ssm.version import __version__
