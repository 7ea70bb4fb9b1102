"""Plot what an SSM layer learned: its convolution kernels and its eigenvalues.

    python examples/plot_kernels.py --model runs/fsdd-s4d/best.keras --out kernels.png
    python examples/plot_kernels.py --out kernels.png     # a freshly initialised model

For every SSM layer of the model: a few features' kernels `K_k` (S4D / DSS;
S5's impulse response to one input channel) over time, and the continuous
eigenvalues `Λ` (what HiPPO initialises: Re Λ = −½, Im Λ spread out) next to
the discrete ones `Λ̄ = exp(ΛΔ)` inside the unit circle.
"""

import argparse

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import keras_ssm  # noqa: E402  (registers the layers for load_model)


def ssm_layers(model):
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras_ssm.layers.base.SSMLayer):
            found.append(layer)
    return found


def impulse_response(layer, length):
    """`(features, length)`: the kernel (S4D, DSS) or the response of every
    output to an impulse on input 0 (S5), without the D skip."""
    if hasattr(layer, "kernel"):
        return keras.ops.convert_to_numpy(layer.kernel(length))
    impulse = np.zeros((1, length, layer.features), "float32")
    impulse[0, 0, 0] = 1.0
    response = keras.ops.convert_to_numpy(layer(impulse))[0].T
    response[:, 0] -= keras.ops.convert_to_numpy(layer.D) * (np.arange(layer.features) == 0)
    return response


def plot(model, out, length):
    layers = ssm_layers(model)
    if not layers:
        raise SystemExit("The model has no keras_ssm layer to plot.")
    fig, axes = plt.subplots(len(layers), 3, figsize=(15, 3.6 * len(layers)), squeeze=False)
    for row, layer in zip(axes, layers):
        params = layer.ssm_parameters(length) if getattr(layer, "variant", None) == "softmax" else layer.ssm_parameters()
        kernels = impulse_response(layer, length)
        for k in kernels[:6]:
            row[0].plot(k, linewidth=0.9)
        row[0].set(title=f"{layer.name}: kernels of 6 features", xlabel="lag k", xscale="symlog")
        lam = np.asarray(params["Lambda"]).ravel()
        row[1].scatter(lam.real, lam.imag, s=6)
        row[1].set(title="continuous eigenvalues Λ", xlabel="Re", ylabel="Im")
        step = np.asarray(params["step"])
        step = np.broadcast_to(step[..., None] if step.ndim < np.ndim(params["Lambda"]) else step, np.shape(params["Lambda"]))
        lam_bar = np.exp(np.asarray(params["Lambda"]) * step).ravel()
        circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
        row[2].plot(circle.real, circle.imag, color="grey", linewidth=0.5)
        row[2].scatter(lam_bar.real, lam_bar.imag, s=6, color="C3")
        row[2].set(title="discrete eigenvalues Λ̄ = exp(ΛΔ)", aspect="equal", xlabel="Re", ylabel="Im")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def default_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((None, 8)),
            keras_ssm.S4DLayer(state_dim=64, init="legs"),
            keras_ssm.DSSLayer(state_dim=32, variant="exp"),
            keras_ssm.S5Layer(state_dim=32, blocks=4),
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a .keras file (default: a fresh demo model)")
    parser.add_argument("--out", default="kernels.png", help="PNG to write")
    parser.add_argument("--length", type=int, default=2048, help="kernel length to plot")
    args = parser.parse_args()
    model = keras.saving.load_model(args.model, safe_mode=True) if args.model else default_model()
    if not model.built:
        model.build((None, None, 8))
    plot(model, args.out, args.length)


if __name__ == "__main__":
    main()
