"""Running an exported artifact in its own runtime: ONNX Runtime, the LiteRT
interpreter (`ai-edge-litert`), or `tf.saved_model.load`."""

import os
import re

import numpy as np


def _positional(name):
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return match.group(1), int(match.group(2) or 0)


class ExportedModel:
    """An export loaded in its runtime: `exported(**inputs)` → dict of numpy outputs.

    `.onnx` runs in ONNX Runtime (CPU), `.tflite` in the LiteRT interpreter,
    a folder as a TensorFlow SavedModel (its `serving_default` signature).

    Args:
        path: the exported file or folder.

    Attributes:
        input_names, output_names: as exported (see `keras_ssm.export`).
        runtime: `"onnxruntime"`, `"litert"` or `"saved_model"`.

    Example:
    >>> import numpy as np                                    # doctest: +SKIP
    >>> exported = ExportedModel("fsdd_s5.onnx")               # doctest: +SKIP
    >>> exported(inputs=np.zeros((1, 4000, 1), "float32"),
    ...          padding_mask=np.ones((1, 4000), bool))["logits"].shape  # doctest: +SKIP
    (1, 10)
    """

    def __init__(self, path):
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

    def _load_onnx(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.runtime = "onnxruntime"
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

        def run(feeds):
            return dict(zip(self.output_names, session.run(self.output_names, feeds)))

        self._run = run

    def _load_litert(self):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=self.path)
        runner = interpreter.get_signature_runner()
        self.runtime = "litert"
        self.input_names = list(runner.get_input_details())
        self.output_names = list(runner.get_output_details())
        self._interpreter = interpreter  # the runner needs it alive
        self._run = lambda feeds: dict(runner(**feeds))

    def _load_saved_model(self):
        import tensorflow as tf

        loaded = tf.saved_model.load(self.path)
        function = loaded.signatures["serving_default"]
        self.runtime = "saved_model"
        # A signature's inputs are a map (no order): positional names `x`, `x_1`, `x_2`, ...
        # (Keras's exporters) sort back into their order.
        self.input_names = sorted((spec.name for spec in function.structured_input_signature[1].values()),
                                  key=_positional)
        self.output_names = list(function.structured_outputs)
        self._loaded = loaded

        def run(feeds):
            outputs = function(**{k: tf.constant(v) for k, v in feeds.items()})
            return {k: v.numpy() for k, v in outputs.items()}

        self._run = run

    def __call__(self, **inputs):
        missing = set(self.input_names) - set(inputs)
        extra = set(inputs) - set(self.input_names)
        if missing or extra:
            raise ValueError(
                f"The export takes inputs {self.input_names}; missing {sorted(missing)}, "
                f"unexpected {sorted(extra)}."
            )
        return self._run({k: np.asarray(v) for k, v in inputs.items()})
