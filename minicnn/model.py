"""Sequential: a list of layers run in order, with Keras's summary and one-file checkpoints."""
import json
import warnings

import numpy as np

from minicnn import backend
from minicnn.runtime import threads
from minicnn.data.augment import affine_transform
from minicnn.data.files import read_npz, write_npz_atomically
from minicnn.data.preparation import InputPreparation
from minicnn.layers import LAYER_CLASSES
from minicnn.layers.base import check_initializer, every_layer
from minicnn.runtime.fusion import execution_steps, fused_triples

FORMAT_VERSION = 1


class Sequential:
    """Sequential(layers, input_shape=(1, 28, 28), init=None, seed=None, dtype="float32", fuse=True).

    Builds every layer at once for the per-sample ``input_shape``. ``init``
    ("pytorch" or "keras") is the default weight initialisation for layers that
    did not choose one; ``seed`` seeds the one numpy Generator that draws the
    initial weights and the dropout masks. With ``fuse`` (an attribute too:
    ``model.fuse = False`` turns it off), each BatchNorm -> ReLU -> MaxPool2D in a
    row runs as one block, minicnn.runtime.fusion (same outputs, faster).
    ``input_preparation`` (a minicnn.data.preparation.InputPreparation, or None) says how raw
    uint8 images become this model's input; it is saved with the model (see prepare).
    """

    def __init__(self, layers, input_shape=(1, 28, 28), init=None, seed=None, dtype="float32", name="sequential",
                 fuse=True):
        self.layers = list(layers)
        self.fused_blocks = {}   # the blocks made so far, kept with their work buffers
        self.input_shape = tuple(int(size) for size in input_shape)
        self.init = check_initializer(init)
        self.dtype = np.dtype(dtype)
        self.name = name
        # float16 would need loss scaling, and NumPy's random generators (dropout masks) refuse it
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Sequential dtype must be float32 or float64, got {self.dtype}")
        self.rng = np.random.default_rng(seed)
        self.input_preparation = None
        self.last_batch_size = None  # backward checks its gradient against the last forward's batch
        self.give_unique_names()
        shape = self.input_shape
        for layer in self.layers:
            if self.init is not None and getattr(layer, "init", "absent") is None:
                layer.init = self.init
            try:
                shape = layer.build(shape, rng=self.rng, dtype=self.dtype)
            except ValueError as error:
                raise ValueError(f"cannot build layer '{layer.name}' on input shape {shape}: {error}") from error
        self.output_shape = shape
        self.fuse = fuse

    @property
    def fuse(self):
        """Whether BatchNorm -> ReLU -> MaxPool2D runs fused (minicnn.runtime.fusion), here and inside every block."""
        return self._fuse

    @fuse.setter
    def fuse(self, value):
        self._fuse = bool(value)
        for layer in every_layer(self.layers):
            if hasattr(layer, "fused_blocks"):   # a layer that runs layers (Residual) fuses as its model does
                layer.fuse = self._fuse

    def give_unique_names(self):
        """conv2d, conv2d_1, ... as Keras does, for layers left with their default name (inside blocks too)."""
        seen = {}
        for layer in every_layer(self.layers):
            count = seen.get(layer.name, 0)
            seen[layer.name] = count + 1
            if count:
                layer.name = f"{layer.name}_{count}"

    def forward(self, x, training=False):
        """x (N, *input_shape) -> logits (N, *output_shape), in the model's dtype."""
        x = backend.to_device(x, dtype=self.dtype)
        self.last_batch_size = x.shape[0]
        # the steps are the layers, or a fused block standing for three of them; backward retraces them
        self.last_steps = execution_steps(self.layers, self.fuse, self.fused_blocks)
        with threads.step_threads():   # the layers' own threads, BLAS at one thread; restored on return
            for step in self.last_steps:
                x = step.forward(x, training=training)
        return x

    def backward(self, dlogits, input_gradient=True):
        """dlogits (N, *output_shape) -> dx (N, *input_shape); every layer writes its grads on the way back.

        With input_gradient=False (what training uses) the first layer may skip
        computing dx, which nothing needs, and None may be returned.
        Raises ValueError if dlogits is not shaped like the last forward's output.
        """
        if self.last_batch_size is None:
            raise ValueError(f"model '{self.name}': backward before any forward; run forward(x, training=True) first")
        expected = (self.last_batch_size,) + self.output_shape
        if tuple(dlogits.shape) != expected:
            raise ValueError(f"model '{self.name}': backward needs the gradient of the last forward's output, "
                             f"shape {expected}, got {tuple(dlogits.shape)}")
        steps = self.last_steps
        # set only for this call, so that the first layer, used on its own later, still returns dx
        steps[0].skip_input_gradient = not input_gradient
        gradient = dlogits   # d(loss)/d(each layer's output), from the last layer back to the input
        try:
            with threads.step_threads():
                for step in reversed(steps):
                    gradient = step.backward(gradient)
        finally:
            steps[0].skip_input_gradient = False
        return gradient

    def check_image_input(self):
        """Raise ValueError, naming the model, if its input is not images (C, H, W), so that test-time
        augmentation (flip or shift averaging) has nothing to mirror or move."""
        if len(self.input_shape) != 3:
            raise ValueError(f"model '{self.name}': flip and shift averaging mirror and move images (C, H, W), "
                             f"but its input is {self.input_shape}")

    def forward_averaged(self, x, flip=False, shift=0):
        """Inference-mode logits (N, *output_shape) averaged over views of images x (N, C, H, W): test-time
        augmentation for a network trained on such views, which then judges each image several ways.

        The views: each image itself; with ``shift`` = k >= 1, also the image moved by 1 to k pixels up,
        down, left and right, zeros coming in at the edge as pad-and-crop training makes them (4k more);
        with ``flip``, the left-right mirror image of every one of those (twice as many views). Each view
        costs one forward pass. What each gained for minicnn-best: docs/results.md.

        Raises ValueError for a network whose input is not images, or a shift that is not a whole
        number from 0 to less than the image's height and width.
        """
        if not (flip or shift):
            return self.forward(x, training=False)
        self.check_image_input()
        problem = shift_problem(shift, self.input_shape[1:])
        if problem:
            raise ValueError(f"model '{self.name}': {problem}")
        x = backend.to_device(x, dtype=self.dtype)
        moves = [(0, 0)] + [move for distance in range(1, shift + 1)
                            for move in ((-distance, 0), (distance, 0), (0, -distance), (0, distance))]
        total, count = None, 0
        for rows, columns in moves:
            moved = x if (rows, columns) == (0, 0) else affine_transform(
                x, shift_rows=rows, shift_cols=columns, interpolation="nearest")
            for view in (moved, backend.xp.ascontiguousarray(moved[..., ::-1])) if flip else (moved,):
                logits = self.forward(view, training=False)
                total = logits if total is None else total + logits
                count += 1
        return total / count

    def predict_logits(self, x, batch_size=256, flip_averaged=False, shift_averaged=0):
        """Inference-mode logits (N, *output_shape) for a host array x (N, *input_shape), in batches, as a
        host array (with ``flip_averaged`` or ``shift_averaged``, averaged over views: forward_averaged)."""
        outputs = [backend.to_numpy(self.forward_averaged(x[start:start + batch_size], flip_averaged, shift_averaged))
                   for start in range(0, len(x), batch_size)]
        return np.concatenate(outputs) if outputs else np.zeros((0,) + self.output_shape, dtype=self.dtype)

    def prepare(self, images):
        """uint8 images (N, H, W) -> this model's input, as it was prepared in training (input_preparation).

        A model without that record (saved before models carried it) gets pixels scaled to [0, 1], with a
        UserWarning that says so.
        """
        if self.input_preparation is None:
            warnings.warn(f"{self.name} does not record how its input was prepared: the pixels are scaled to "
                          "[0, 1]; if it was trained on standardized pixels or PCA features, its answers are wrong",
                          UserWarning, stacklevel=2)
            return InputPreparation().prepare(images, dtype=self.dtype.name)
        return self.input_preparation.prepare(images, dtype=self.dtype.name)

    def predict(self, x, batch_size=256, flip_averaged=False, shift_averaged=0):
        """Predicted class indices (N,) for a host or device array x (N, *input_shape)."""
        return self.predict_logits(x, batch_size, flip_averaged, shift_averaged).argmax(axis=1)

    def count_params(self):
        """(trainable, non_trainable) value counts, as Keras reports them."""
        counts = [layer.count_params() for layer in self.layers]
        return sum(count[0] for count in counts), sum(count[1] for count in counts)

    def summary(self):
        """A Keras-style table: Layer (type) | Output Shape | Param #, then the totals.

        A block that holds layers (Residual) has its row, with every parameter inside it, and under it
        one indented row per layer of its body, then of its shortcut ("shortcut: ..."; "shortcut: identity"
        where the input is added as it is). Layers that forward runs as one fused block
        (minicnn.runtime.fusion) carry a "*" after their type, and a line under the table names each block.
        """
        entries, blocks = self.summary_entries(self.layers, ""), []
        for layers in [self.layers] + [layer.body for layer in every_layer(self.layers) if hasattr(layer, "body")]:
            blocks += [layers[start:start + 3] for start in fused_triples(layers, self.fuse)]
        fused = {id(layer) for block in blocks for layer in block}
        labels = [label + (" *" if layer is not None and id(layer) in fused else "") for label, layer, _ in entries]
        widths = (max([29] + [len(label) + 2 for label in labels]), 26, 10)
        line = "_" * sum(widths)

        def row(*cells):
            return "".join(f" {cell}".ljust(width) for cell, width in zip(cells, widths)).rstrip()

        lines = [f'Model: "{self.name}"', line, row("Layer (type)", "Output Shape", "Param #"), "=" * sum(widths)]
        for index, (label, (_, layer, depth)) in enumerate(zip(labels, entries)):
            if depth == 0 and index:
                lines.append("")   # between the layers of the model, not between those inside a block
            if layer is None:
                lines.append(row(label))
            else:
                shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")"
                lines.append(row(label, shape, f"{sum(layer.count_params()):,}"))
        trainable, non_trainable = self.count_params()
        lines += ["=" * sum(widths), f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {non_trainable:,}", line]
        if blocks:
            lines.append("* runs fused, each three as one block (model.fuse = False runs every layer on its own):")
            lines += ["  " + " -> ".join(layer.name for layer in block) for block in blocks]
        return "\n".join(lines)

    @classmethod
    def summary_entries(cls, layers, indent, depth=0):
        """(label, layer, depth) of each row of the summary: every layer, then the layers inside it, indented
        (layer None: the identity shortcut's row)."""
        entries = []
        for layer in layers:
            entries.append((f"{indent}{layer.name} ({type(layer).__name__})", layer, depth))
            if hasattr(layer, "body"):
                entries += cls.summary_entries(layer.body, indent + "  ", depth + 1)
                if layer.shortcut:
                    entries += cls.summary_entries(layer.shortcut, indent + "  shortcut: ", depth + 1)
                else:
                    entries.append((f"{indent}  shortcut: identity", None, depth + 1))
        return entries

    def architecture(self):
        """The model as JSON-able data: input shape, dtype and each layer's class and config."""
        return {"input_shape": list(self.input_shape), "dtype": self.dtype.name, "name": self.name,
                "layers": [{"class": type(layer).__name__, "config": layer.config()} for layer in self.layers]}

    def arrays(self):
        """Every saved array by its file key: 'param/<index>/<name>' and 'buffer/<index>/<name>'."""
        found = {}
        for index, layer in enumerate(self.layers):
            for kind, group in (("param", layer.params), ("buffer", layer.buffers)):
                for key, value in group.items():
                    found[f"{kind}/{index}/{key}"] = value
        return found

    def save(self, path, extra_arrays=None):
        """Write one .npz: weights, buffers, the architecture as JSON and the format version.

        Written to a temporary file in the same directory and renamed over
        ``path``, so a crash mid-write never leaves a half-written checkpoint.
        ``extra_arrays`` (name -> array) rides along, for the training loop's state.
        """
        contents = {key: backend.to_numpy(value) for key, value in self.arrays().items()}
        architecture = self.architecture()
        if self.input_preparation is not None:
            architecture["input_preparation"] = self.input_preparation.settings()
            contents.update(self.input_preparation.arrays())
        contents["architecture"] = np.array(json.dumps(architecture))
        contents["format_version"] = np.array(FORMAT_VERSION)
        contents.update(extra_arrays or {})
        write_npz_atomically(path, contents)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by ``save``; every name and shape is checked.

        Raises ValueError naming the file for anything that is not a minicnn
        checkpoint (not a zip, pickled objects, missing or extra or
        wrongly-shaped arrays), OSError if the file cannot be read.
        """
        contents = read_npz(path)
        try:
            version = int(contents["format_version"])
            architecture = json.loads(str(contents["architecture"]))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a minicnn checkpoint (no readable architecture/format_version)") from error
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: checkpoint format version {version}, this minicnn reads {FORMAT_VERSION}")
        model = cls.from_architecture(architecture, source=path)
        model.load_arrays(contents, source=path)
        if architecture.get("input_preparation") is not None:
            model.input_preparation = InputPreparation.from_saved(architecture["input_preparation"], contents, path)
        return model

    @classmethod
    def from_architecture(cls, architecture, source="architecture"):
        """A fresh model (new random weights) from the data ``architecture()`` returns."""
        try:
            layers = []
            for entry in architecture["layers"]:
                if entry["class"] not in LAYER_CLASSES:
                    raise ValueError(f"unknown layer class {entry['class']!r}")
                layers.append(LAYER_CLASSES[entry["class"]](**entry["config"]))
            return cls(layers, input_shape=architecture["input_shape"], dtype=architecture["dtype"],
                       name=architecture.get("name", "sequential"))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: bad architecture: {error}") from error

    def load_arrays(self, contents, source="checkpoint"):
        """Copy weights and buffers from a name -> host array mapping into the model, checking each."""
        expected = self.arrays()
        stored = {key for key in contents if key.startswith(("param/", "buffer/"))}
        missing, unexpected = sorted(set(expected) - stored), sorted(stored - set(expected))
        if missing or unexpected:
            raise ValueError(f"{source}: arrays do not match the architecture "
                             f"(missing {missing}, unexpected {unexpected})")
        for key, target in expected.items():
            value = contents[key]
            if value.shape != target.shape:
                raise ValueError(f"{source}: array {key!r} has shape {value.shape}, "
                                 f"the architecture needs {target.shape}")
            if value.dtype.kind != "f":
                raise ValueError(f"{source}: array {key!r} has dtype {value.dtype}, expected floats")
            target[...] = backend.to_device(value, dtype=target.dtype)

    def to(self, backend_name):
        """Move every parameter, grad and buffer onto ``backend_name``, which should be the active backend.

        The backend is one for the whole process (minicnn.set_backend) and every model computes on it,
        so it is switched on its own, explicitly, before each model is moved:
        ``mc.set_backend("cupy"); model.to("cupy")``. A ``backend_name`` that is not the active one
        still switches it, with a FutureWarning: that goes in the next release.
        """
        if backend_name != backend.name:
            warnings.warn(f"model.to({backend_name!r}) switched the whole process to {backend_name}, for every "
                          f"model: call minicnn.set_backend({backend_name!r}) first (model.to will stop switching "
                          "it in the next release)", FutureWarning, stacklevel=2)
            backend.set_backend(backend_name)
        self.fused_blocks.clear()   # their work buffers belong to the other backend
        for layer in every_layer(self.layers):
            if hasattr(layer, "fused_blocks"):
                layer.fused_blocks.clear()
        for layer in self.layers:   # a block's params, grads and buffers are those of the layers inside it
            for group in (layer.params, layer.grads, layer.buffers):
                for key, value in group.items():
                    group[key] = backend.to_device(backend.to_numpy(value))
        return self


def shift_problem(shift, image_size):
    """What is wrong with a test-time shift (pixels) for images of image_size (H, W), or None if nothing:
    the one check behind Sequential.forward_averaged, the recipe key and the command-line option."""
    if type(shift) is int and 0 <= shift < min(image_size):
        return None
    return (f"shift averaging moves {image_size} images by a whole number of pixels, at least 0 and less than "
            f"their height and width; got {shift!r}")
