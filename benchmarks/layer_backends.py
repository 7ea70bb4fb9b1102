"""What the layer benchmark times on each backend (worker side): the jitted /
traced / eager forward and forward+backward (`STEPS`), streaming `step`
(`STREAMS`) and convolution kernel (`KERNELS`) of a layer built by
`build_layer`."""

import numpy as np

from benchmarks.layer_config import B, H, STATE_DIM, STEPS_PER_CALL


def jax_steps(layer, x):
    """Jitted forward, and jitted value-and-grad of sum(y²) w.r.t. all
    trainable variables and the input, through `layer.stateless_call`."""
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    x = jnp.asarray(x)

    def forward(tv, ntv, inputs):
        return layer.stateless_call(tv, ntv, inputs)[0]

    def loss(tv, ntv, inputs):
        return jnp.sum(jnp.square(forward(tv, ntv, inputs)))

    fwd = jax.jit(forward)
    fwdbwd = jax.jit(jax.value_and_grad(loss, argnums=(0, 2)))
    return {
        "fwd": lambda: jax.block_until_ready(fwd(trainable, non_trainable, x)),
        "fwdbwd": lambda: jax.block_until_ready(fwdbwd(trainable, non_trainable, x)),
        "compile_fwdbwd": lambda: fwdbwd.lower(trainable, non_trainable, x).compile(),
    }


def tensorflow_steps(layer, x):
    """`tf.function` forward, and sum(y²) with a GradientTape over the
    trainable variables and the input (passed as an argument, so it is not
    folded into the graph as a constant)."""
    import tensorflow as tf

    x = tf.constant(x)
    variables = layer.trainable_variables

    @tf.function
    def fwd(inputs):
        return layer(inputs)

    @tf.function
    def fwdbwd(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.square(layer(inputs)))
        return loss, tape.gradient(loss, [*variables, inputs])

    return {
        "fwd": lambda: fwd(x),
        "fwdbwd": lambda: fwdbwd(x),
        "trace_fwdbwd": lambda: fwdbwd.get_concrete_function(x),
    }


def torch_steps(layer, x):
    """Eager forward under `no_grad`, and sum(y²) with `backward()` into the
    trainable variables and the input (gradients reset before each call)."""
    import torch

    x = torch.from_numpy(x)
    params = [v.value for v in layer.trainable_variables]

    def fwd():
        with torch.no_grad():
            return layer(x)

    def fwdbwd():
        for p in params:
            p.grad = None
        inputs = x.detach().requires_grad_()
        loss = torch.sum(torch.square(layer(inputs)))
        loss.backward()
        return loss, [p.grad for p in params], inputs.grad

    return {"fwd": fwd, "fwdbwd": fwdbwd}


def jax_kernel(layer, length):
    """`layer.kernel(length)` jitted over the variables' values (so they are
    arguments, not constants XLA could fold), compiled ahead of the call."""
    import jax
    import keras

    variables = layer.variables
    values = [v.value for v in variables]

    def kernel(vals):
        with keras.StatelessScope(state_mapping=list(zip(variables, vals))):
            return layer.kernel(length)

    compiled = jax.jit(kernel).lower(values).compile()
    return lambda: jax.block_until_ready(compiled(values))


def tensorflow_kernel(layer, length):
    """`layer.kernel(length)` in a `tf.function`, traced ahead of the call."""
    import tensorflow as tf

    kernel = tf.function(lambda: layer.kernel(length))
    kernel.get_concrete_function()
    return kernel


def torch_kernel(layer, length):
    """`layer.kernel(length)` eagerly under `no_grad`."""
    import torch

    def kernel():
        with torch.no_grad():
            return layer.kernel(length)

    return kernel


def _stream_inputs(layer, x):
    """The first STEPS_PER_CALL time steps of `x` and the layer's zero state."""
    length = x.shape[1]
    state = (
        layer.get_initial_state(B, length=length)
        if getattr(layer, "variant", None) == "softmax"
        else layer.get_initial_state(B)
    )
    return [x[:, k] for k in range(STEPS_PER_CALL)], state


def jax_stream(layer, x):
    """STEPS_PER_CALL calls of a jitted `layer.step` (over the variables'
    values, through a StatelessScope), carrying the state."""
    import jax
    import keras

    xs, state = _stream_inputs(layer, x)
    variables = layer.variables
    values = [v.value for v in variables]

    def step(vals, x_t, h):
        with keras.StatelessScope(state_mapping=list(zip(variables, vals))):
            return layer.step(x_t, h)

    step = jax.jit(step)

    def stream():
        h = state
        for x_t in xs:
            y, h = step(values, x_t, h)
        return jax.block_until_ready(y)

    return stream


def tensorflow_stream(layer, x):
    """STEPS_PER_CALL calls of `tf.function(layer.step)`, carrying the state."""
    import tensorflow as tf

    xs, state = _stream_inputs(layer, x)
    xs = [tf.constant(x_t) for x_t in xs]
    step = tf.function(layer.step)

    def stream():
        h = state
        for x_t in xs:
            y, h = step(x_t, h)
        return y

    return stream


def torch_stream(layer, x):
    """STEPS_PER_CALL eager calls of `layer.step` under `no_grad`."""
    import torch

    xs, state = _stream_inputs(layer, x)
    xs = [torch.from_numpy(np.ascontiguousarray(x_t)) for x_t in xs]

    def stream():
        h = state
        with torch.no_grad():
            for x_t in xs:
                y, h = layer.step(x_t, h)
        return y

    return stream


STEPS = {"jax": jax_steps, "tensorflow": tensorflow_steps, "torch": torch_steps}
STREAMS = {"jax": jax_stream, "tensorflow": tensorflow_stream, "torch": torch_stream}
KERNELS = {"jax": jax_kernel, "tensorflow": tensorflow_kernel, "torch": torch_kernel}


def build_layer(name, length):
    """The benchmarked layer (the same system as its reference), built for `(B, length, H)`."""
    from benchmarks.references import our_layer

    layer = our_layer(name, state_dim=STATE_DIM, seed=0)
    layer.build((B, length, H))
    return layer
