from keras_ssm.layers.s4d import S4DLayer
