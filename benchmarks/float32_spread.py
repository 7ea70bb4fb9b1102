"""How far a preset's float32 logits are from float64, on each backend and in its ONNX export.

    .venv/bin/python -m benchmarks float32_spread lra_listops_s5

On the pinned inputs (`keras_ssm.zoo.publish_pins`): the preset on JAX, TensorFlow
and torch in float32, its ONNX export (sequence form at the pinned length,
run in onnxruntime), and a float64 reference: torch with
`keras.config.set_floatx("float64")` and the SSM scan itself in complex128,
step by step (the layers' fast scans are complex64 whatever the floatx: a
reference with them put torch 1.9e-3 off on lra_listops_s5); an S4D / DSS preset's kernel
(`vandermonde`) stays complex64 in the reference. Prints each one's largest
logit error against the reference, also as a fraction of the largest logit:
what `FLOAT32_SPREAD` in `tests/zoo/pinned.py` holds.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sequential_complex128_scan(a, b, reverse=False, initial_state=None):
    """`x_k = a_k x_{k-1} + b_k` in complex128, one step at a time (torch)."""
    import torch

    a, b = torch.as_tensor(a).to(torch.complex128), torch.as_tensor(b).to(torch.complex128)
    h = (torch.zeros((b.shape[0], b.shape[2]), dtype=torch.complex128) if initial_state is None
         else torch.as_tensor(initial_state).to(torch.complex128))
    states = [None] * b.shape[1]
    for k in (range(b.shape[1] - 1, -1, -1) if reverse else range(b.shape[1])):
        h = (a if a.ndim == 1 else a[:, k]) * h + b[:, k]
        states[k] = h
    return torch.stack(states, 1), h


def logits(name, out, reference):
    """Runs in a child process whose KERAS_BACKEND is set: saves the preset's logits (and, on TF, its export's)."""
    import keras

    if reference:
        keras.config.set_floatx("float64")
        from keras_ssm import ops

        ops.linear_scan = sequential_complex128_scan
    from keras_ssm import export, zoo
    from keras_ssm.zoo.publish_pins import model_inputs

    model = zoo.load(name)
    inputs = model_inputs(zoo.describe(name))
    results = {"keras": keras.ops.convert_to_numpy(model(inputs)).astype(np.float64)}
    if keras.backend.backend() == "tensorflow" and not reference:
        path = os.path.join(os.path.dirname(out), name + ".onnx")
        export.export_model(model, path, format="onnx", length=1200)
        feeds = {"tokens": inputs} if isinstance(inputs, np.ndarray) else dict(zip(("inputs", "padding_mask"), inputs))
        results["onnx"] = export.ExportedModel(path)(**feeds)["logits"]
    np.savez(out, **results)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a bundled preset")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return logits(args.name, args.child, args.reference)
    runs = [("float64 reference", "torch", True), ("jax", "jax", False), ("tensorflow", "tensorflow", False),
            ("torch", "torch", False)]
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for label, backend, reference in runs:
            out = os.path.join(folder, f"{label.replace(' ', '_')}.npz")
            argv = [sys.executable, "-m", "benchmarks", "float32_spread", args.name, "--child", out]
            subprocess.run(argv + ["--reference"] * reference, env=dict(os.environ, KERAS_BACKEND=backend), cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with np.load(out) as z:
                results[label] = z["keras"]
                if "onnx" in z:
                    results["onnx export (TF)"] = z["onnx"]
    reference = results.pop("float64 reference")
    scale = np.abs(reference).max()
    print(f"{args.name}: float32 logits against float64 on the pinned inputs (largest logit {scale:.2f})")
    for label, y in results.items():
        error = np.abs(y - reference).max()
        print(f"  {label:<18} {error:.2e}  ({error / scale:.1e} of the largest logit)")


if __name__ == "__main__":
    main()
