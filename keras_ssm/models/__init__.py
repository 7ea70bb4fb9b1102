"""Task models built from SSM blocks, in the keras-hub manner."""

from keras_ssm.models.backbone import SSMBackbone
from keras_ssm.models.byte_tokenizer import ByteTokenizer
from keras_ssm.models.classifier import SSMClassifier
from keras_ssm.models.listops_tokenizer import ListOpsTokenizer
from keras_ssm.models.preprocessor import SSMPreprocessor
from keras_ssm.models.retrieval import SSMRetrievalClassifier
