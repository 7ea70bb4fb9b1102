"""The layers' parameters are stored in C order on every backend.

numpy's `.real` / `.imag` of a broadcast or transposed init array are strided
views, and torch keeps a numpy array's strides: a column-major parameter made
torch.compile's (Inductor's) gradient of its complex cast wrong, silently.
"""

import keras
import numpy as np
import pytest

import keras_ssm
from keras_ssm import ops as ssm_ops

LAYERS = {
    "s4d": lambda: keras_ssm.S4DLayer(state_dim=8),
    "s4d_bidirectional": lambda: keras_ssm.S4DLayer(state_dim=8, bidirectional=True),
    "dss": lambda: keras_ssm.DSSLayer(state_dim=4),
    "s5": lambda: keras_ssm.S5Layer(state_dim=8, blocks=2),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parameters_are_contiguous(name):
    layer = LAYERS[name]()
    layer(np.zeros((1, 16, 6), "float32"))
    for variable in layer.weights:
        value = variable.value
        if keras.backend.backend() == "torch":
            assert value.is_contiguous(), f"{variable.path} has strides {value.stride()}"
        else:
            array = keras.ops.convert_to_numpy(value)
            assert array.flags["C_CONTIGUOUS"], variable.path


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile is torch's compiler")
def test_compiled_gradient_of_complex_parts_equals_eager():
    # A column-major parameter, as numpy's `.imag` of a transposed array gives.
    import torch

    rng = np.random.default_rng(0)
    c_re, c_im = (torch.nn.Parameter(torch.tensor(rng.normal(size=(8, 4)), dtype=torch.float32)) for _ in "ab")
    b_re, b_im = (torch.nn.Parameter(torch.tensor(rng.normal(size=(4, 8)), dtype=torch.float32).T) for _ in "ab")
    w_re, w_im = (torch.tensor(rng.normal(size=(8, 4)), dtype=torch.float32) for _ in "ab")

    def loss():
        product = ssm_ops.to_complex(c_re, c_im) * ssm_ops.to_complex(b_re, b_im)
        return (product.real * w_re).sum() + (product.imag * w_im).sum()

    grads = []
    for fn in (loss, torch.compile(loss)):
        c_re.grad = None
        fn().backward()
        grads.append(c_re.grad.clone())
    # d loss / d Re C = w_re Re B + w_im Im B.
    expected = (w_re * b_re + w_im * b_im).detach()
    np.testing.assert_allclose(grads[0].numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(grads[1].numpy(), expected.numpy(), atol=1e-5)
