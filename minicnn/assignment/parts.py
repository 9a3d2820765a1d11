"""The parts an assignment is made of, and the cut that turns a reference module into a student's stub.

A part is one module of minicnn/reference: its functions are what the student
writes. Making an assignment copies every module into the student's folder,
the chosen parts with each ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
region replaced by ``raise NotImplementedError`` (docstrings and signatures
kept), the others as they are.
"""
import importlib
import pathlib
from dataclasses import dataclass

import minicnn.reference

REFERENCE_DIRECTORY = pathlib.Path(minicnn.reference.__file__).parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Part:
    name: str          # what `minicnn assignment make` takes: "conv"
    module: str        # minicnn/reference/<module>.py, and student/<module>.py in the folder
    functions: tuple   # what the student writes, in the order to write them
    title: str
    docs: tuple        # the sections of docs/<docs_file> that explain the math
    docs_file: str = "layers.md"
    trained: bool = True   # the it-trains network runs its functions (a stub there fails that test too)
    fast: str = "minicnn's fast layer that computes the same thing (minicnn/layers/): its docstring names each " \
                "trick it uses"

    @property
    def reading(self):
        """Where the math is: 'docs/layers.md, section "Conv2D"'."""
        sections = " and ".join(f'"{section}"' for section in self.docs)
        return f"docs/{self.docs_file}, section{'s' * (len(self.docs) > 1)} {sections}"


# In the reading order of docs/teaching.md: each part uses only the ones before it.
PARTS = {part.name: part for part in (
    Part("dense", "dense", ("dense_forward", "dense_backward", "flatten_forward", "flatten_backward"),
         "the fully connected layer and flatten", ("Dense", "Flatten")),
    Part("relu", "activations", ("relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward"),
         "ReLU and leaky ReLU", ("ReLU and LeakyReLU",)),
    Part("softmax", "loss", ("softmax_cross_entropy",), "the softmax cross-entropy loss", ("SoftmaxCrossEntropy",)),
    Part("conv", "conv", ("conv_forward", "conv_backward"), "the convolution", ("Conv2D",)),
    Part("pool", "pooling", ("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward"),
         "max and average pooling", ("MaxPool2D and AvgPool2D",)),
    Part("batchnorm", "normalization", ("batchnorm_forward", "batchnorm_backward"), "batch normalization",
         ("BatchNorm",)),
    Part("dropout", "dropout", ("dropout_mask", "dropout_forward", "dropout_backward"), "inverted dropout",
         ("Dropout",)),
    Part("optim", "optim", ("sgd_momentum", "rmsprop", "adam"), "the update rules SGD with momentum, RMSprop "
         "and Adam", ("Optimizers",)),
    Part("layernorm", "per_sample_normalization", ("standardize_rows", "standardize_rows_gradient", "layernorm_forward",
                                                   "layernorm_backward", "groupnorm_forward", "groupnorm_backward"),
         "layer and group normalization", ("LayerNorm and GroupNorm",), trained=False),
    Part("residual", "residual", ("residual_forward", "residual_backward"), "the residual block's forward and "
         "backward", ("Residual",), trained=False),
    Part("visualization", "visualization", ("saliency_map", "fooling_image"), "saliency maps and fooling images",
         ("Saliency: which pixels move the score", "Fooling images: a small change, another answer"), "explain.md",
         trained=False, fast="minicnn/explain.py's saliency and fooling_images, which do the same for a minicnn "
                             "model on either backend and leave it as it was"),
)}


class AssignmentError(ValueError):
    """A request that cannot be done as asked (an unknown part, a folder that holds work); the message says
    what to do instead. The command answers it with one line and exit status 2."""


def chosen_parts(names):
    """The Part objects for ``names`` ("all" means every part), in reading order; AssignmentError for a name
    that is not a part."""
    unknown = [name for name in names if name != "all" and name not in PARTS]
    if unknown:
        raise AssignmentError(f"no part called {', '.join(unknown)}; the parts are {', '.join(PARTS)} (or all)")
    if not names:
        raise AssignmentError(f"name at least one part: {', '.join(PARTS)} (or all)")
    return [part for name, part in PARTS.items() if name in names or "all" in names]


def stubbed_source(source, path="module"):
    """``source`` with every solution region cut to ``<indent>raise NotImplementedError``.

    The markers stand alone on their lines, BEGIN and END at the same indentation (the body's),
    one region per function (tests/test_reference.py proves the reference modules keep that layout).
    ValueError naming ``path`` and the line for a marker out of place.
    """
    lines, kept, begin = source.splitlines(keepends=True), [], None
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin is not None:
                raise ValueError(f"{path}:{number}: {BEGIN} inside another region (opened at line {begin})")
            begin = number
            kept.append(line[:len(line) - len(line.lstrip())] + "raise NotImplementedError\n")
        elif marker == END:
            if begin is None:
                raise ValueError(f"{path}:{number}: {END} without a {BEGIN} before it")
            begin = None
        elif begin is None:
            kept.append(line)
    if begin is not None:
        raise ValueError(f"{path}:{begin}: {BEGIN} is never closed by {END}")
    return "".join(kept)


def reference_module(name):
    """minicnn.reference.<name> (a part's module), imported."""
    return importlib.import_module(f"minicnn.reference.{name}")


def reference_source(part):
    """The reference module of ``part``, solution and markers included."""
    return (REFERENCE_DIRECTORY / f"{part.module}.py").read_text(encoding="utf-8")
