"""Running an exported artifact in its own runtime: ONNX Runtime, the LiteRT
interpreter (`ai-edge-litert`), or `tf.saved_model.load`."""

import json
import os
import re

import numpy as np


def _positional(name):
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return match.group(1), int(match.group(2) or 0)


def _read_description(path):
    """The description an export wrote beside `path` (`PATH.json`), or None."""
    sidecar = path.rstrip("/\\") + ".json"
    if not os.path.isfile(sidecar):
        return None
    with open(sidecar) as f:
        return json.load(f)


class ExportedModel:
    """An export loaded in its runtime: `exported(**inputs)` → dict of numpy outputs.

    `.onnx` runs in ONNX Runtime (CPU), `.tflite` in the LiteRT interpreter,
    a folder as a TensorFlow SavedModel (its `serving_default` signature).

    The inputs and outputs go by the names of the export's description
    (`PATH.json`, written by `export_model`), whatever the route named them
    inside the artifact (Keras's own exporters on JAX and torch call them
    `input_0`, `add_out_25`, ...), and are cast to the dtypes it lists. An
    input the description gives a `default` (the streaming form's `valid`)
    may be left out. An export whose batch is fixed at 1 runs a larger batch
    one example at a time; another fixed batch size is a clear error.
    Without a description the artifact's own names apply.

    Args:
        path: the exported file or folder.
        description: the export's description (default: read from
            `PATH.json` when it exists); `False` to use the artifact's own
            names and shapes.

    Attributes:
        input_names, output_names: the names `__call__` takes and returns.
        runtime_input_names, runtime_output_names: the artifact's own.
        runtime: `"onnxruntime"`, `"litert"` or `"saved_model"`.

    Example:
    >>> import numpy as np                                    # doctest: +SKIP
    >>> exported = ExportedModel("fsdd_s5.onnx")               # doctest: +SKIP
    >>> exported(inputs=np.zeros((1, 4000, 1), "float32"),
    ...          padding_mask=np.ones((1, 4000), bool))["logits"].shape  # doctest: +SKIP
    (1, 10)
    """

    def __init__(self, path, description=None):
        if not os.path.exists(path):
            raise FileNotFoundError(f"No exported model at {path!r}.")
        self.path = path
        if os.path.isdir(path):
            self._load_saved_model()
        elif path.endswith(".onnx"):
            self._load_onnx()
        elif path.endswith(".tflite"):
            self._load_litert()
        else:
            raise ValueError(f"`path` {path!r}: expected a .onnx or .tflite file or a SavedModel folder.")
        if description is None:
            description = _read_description(path)
        self.description = description or None
        self._apply(self.description)

    def _apply(self, description):
        """Maps the description's names onto the artifact's."""
        self._inputs, self._outputs, self._specs = {}, {}, {}
        if description is None:
            self.input_names, self.output_names = list(self.runtime_input_names), list(self.runtime_output_names)
            self._inputs = {n: n for n in self.input_names}
            self._outputs = {n: n for n in self.output_names}
            return
        specs = description["inputs"] + [
            {"name": s["name"], "shape": s["shape"], "dtype": "float32"} for s in description.get("state", [])
            if s["name"] not in {i["name"] for i in description["inputs"]}]
        names = [s["name"] for s in specs]
        outputs = list(description["outputs"])
        runtime_inputs = description.get("runtime_inputs") or names
        runtime_outputs = description.get("runtime_outputs") or outputs
        if sorted(runtime_inputs) != sorted(self.runtime_input_names) or sorted(runtime_outputs) != sorted(
                self.runtime_output_names):
            raise ValueError(
                f"{self.path}.json does not describe this artifact: it names inputs {runtime_inputs} and outputs "
                f"{runtime_outputs}, the artifact has {self.runtime_input_names} and {self.runtime_output_names}. "
                "Export again (the artifact and its .json are written together), or pass `description=False`."
            )
        self._inputs = dict(zip(names, runtime_inputs))
        self._outputs = dict(zip(outputs, runtime_outputs))
        self._specs = {s["name"]: s for s in specs}
        self.input_names, self.output_names = names, outputs

    def _load_onnx(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.runtime = "onnxruntime"
        self.runtime_input_names = [i.name for i in session.get_inputs()]
        self.runtime_output_names = [o.name for o in session.get_outputs()]

        def run(feeds):
            return dict(zip(self.runtime_output_names, session.run(self.runtime_output_names, feeds)))

        self._run = run

    def _load_litert(self):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=self.path)
        runner = interpreter.get_signature_runner()
        self.runtime = "litert"
        self.runtime_input_names = list(runner.get_input_details())
        self.runtime_output_names = list(runner.get_output_details())
        self._interpreter = interpreter  # the runner needs it alive
        self._run = lambda feeds: dict(runner(**feeds))

    def _load_saved_model(self):
        import tensorflow as tf

        loaded = tf.saved_model.load(self.path)
        function = loaded.signatures["serving_default"]
        self.runtime = "saved_model"
        # A signature's inputs are a map (no order): positional names `x`, `x_1`, `x_2`, ...
        # (Keras's exporters) sort back into their order.
        self.runtime_input_names = sorted((spec.name for spec in function.structured_input_signature[1].values()),
                                          key=_positional)
        self.runtime_output_names = list(function.structured_outputs)
        self._loaded = loaded

        def run(feeds):
            outputs = function(**{k: tf.constant(v) for k, v in feeds.items()})
            return {k: v.numpy() for k, v in outputs.items()}

        self._run = run

    def _prepare(self, inputs):
        """The inputs as arrays of their described dtypes, defaults filled
        (at the batch of the inputs given)."""
        arrays = {n: np.asarray(v, self._specs.get(n, {}).get("dtype")) for n, v in inputs.items()}
        batch = next(iter(arrays.values())).shape[0]
        for name in self.input_names:
            if name not in arrays:
                spec = self._specs[name]
                arrays[name] = np.full([batch, *spec["shape"][1:]], spec["default"], spec["dtype"])
        return {name: arrays[name] for name in self.input_names}

    def _fixed_batch(self):
        """The batch size the export is fixed at, or None for any."""
        if not self._specs:
            return None
        first = self._specs[self.input_names[0]]["shape"]
        return first[0] if first else None

    def __call__(self, **inputs):
        required = {n for n in self.input_names if "default" not in self._specs.get(n, {})}
        missing = required - set(inputs)
        extra = set(inputs) - set(self.input_names)
        if missing or extra:
            raise ValueError(
                f"The export takes inputs {self.input_names}; missing {sorted(missing)}, "
                f"unexpected {sorted(extra)}."
            )
        arrays = self._prepare(inputs)
        batch, fixed = next(iter(arrays.values())).shape[0], self._fixed_batch()
        if fixed is None or batch == fixed:
            return self._call(arrays)
        if fixed != 1:
            raise ValueError(
                f"This export takes a batch of exactly {fixed} (PATH.json: inputs' first axis); got {batch}. "
                f"Feed {fixed} examples at a time, or export with `batch_size=None` (any batch)."
            )
        # A route that fixes the batch at 1: one example at a time.
        rows = [self._call({k: v[i : i + 1] for k, v in arrays.items()}) for i in range(batch)]
        return {k: np.concatenate([row[k] for row in rows], axis=0) for k in rows[0]}

    def _call(self, arrays):
        outputs = self._run({self._inputs[k]: v for k, v in arrays.items()})
        return {name: outputs[runtime] for name, runtime in self._outputs.items()}
