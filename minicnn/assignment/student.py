"""The student's code in an assignment folder: its modules, and networks made of its functions.

The folder's ``student/`` package holds one module per part (conv.py, pooling.py...),
in the layout of minicnn/reference. Every load imports the files afresh, so the
notebook sees each edit without restarting its kernel, and a grader sees nothing
another grader (or an earlier student) left behind.
"""
import importlib
import pathlib
import sys
import types

from minicnn import layers, model, reference
from minicnn.lab import zoo
from minicnn.assignment.cases import GradingFailure
from minicnn.assignment.parts import PARTS
from minicnn.gradcheck import where_it_failed

PACKAGE = "student"

# a fast layer class -> (module, forward function, backward function) of the student's twin of it
LAYER_FUNCTIONS = {
    "Conv2D": ("conv", "conv_forward", "conv_backward"),
    "MaxPool2D": ("pooling", "max_pool_forward", "max_pool_backward"),
    "AvgPool2D": ("pooling", "avg_pool_forward", "avg_pool_backward"),
    "BatchNorm": ("normalization", "batchnorm_forward", "batchnorm_backward"),
    "Dense": ("dense", "dense_forward", "dense_backward"),
    "Flatten": ("dense", "flatten_forward", "flatten_backward"),
    "ReLU": ("activations", "relu_forward", "relu_backward"),
    "LeakyReLU": ("activations", "leaky_relu_forward", "leaky_relu_backward"),
    "Dropout": ("dropout", "dropout_forward", "dropout_backward"),
}


def load_module(directory, name):
    """student/<name>.py of the assignment folder ``directory``, imported afresh; GradingFailure naming the file
    and the line if it cannot be imported (a syntax error, a missing import)."""
    folder = str(pathlib.Path(directory).resolve())
    for loaded in [key for key in sys.modules if key == PACKAGE or key.startswith(PACKAGE + ".")]:
        del sys.modules[loaded]
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    path = pathlib.Path(folder, PACKAGE, f"{name}.py")
    if not path.is_file():
        raise GradingFailure(f"{path} is missing; put your {name}.py back into {PACKAGE}/")
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except Exception as error:
        raise GradingFailure(f"{PACKAGE}/{name}.py cannot be imported: {where_it_failed(error)}") from None


def load_student(directory):
    """Every module of student/, as attributes of one namespace: student.conv.conv_forward..."""
    return types.SimpleNamespace(**{part.module: load_module(directory, part.module) for part in PARTS.values()})


def functions_for(student, layer):
    """The (forward, backward) pair of the student's functions that computes ``layer``."""
    module, forward, backward = LAYER_FUNCTIONS[type(layer).__name__]
    return getattr(getattr(student, module), forward), getattr(getattr(student, module), backward)


def with_student_layers(network, student):
    """``network`` (a Sequential) with every layer replaced by its twin running the student's functions: the
    same settings and weights (minicnn.reference.reference_twin). Changes ``network`` and returns it."""
    network.layers[:] = [reference.reference_twin(layer, functions=functions_for(student, layer))
                         for layer in network.layers]
    return network


def small_network(student, seed=0):
    """The network the it-trains test and the notebook's sanity checks train: every kind of layer once or twice,
    small enough to learn a few hundred images in seconds with loops over the output positions, and well inside
    the time limit with the textbook's four loops (the stride 2 of the first convolution quarters their count;
    docs/teaching.md gives the times measured)."""
    fast = model.Sequential([layers.Conv2D(4, 3, stride=2, padding=1), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(2),
                             layers.Conv2D(8, 3, padding=1), layers.BatchNorm(), layers.LeakyReLU(0.1),
                             layers.AvgPool2D(2), layers.Flatten(), layers.Dropout(0.2), layers.Dense(10)],
                            input_shape=(1, 28, 28), seed=seed, name="small")
    return with_student_layers(fast, student)


def flagship(student, seed=0):
    """The flagship (zoo.FLAGSHIP, awasthi-enhanced-cnn) computed by the student's functions."""
    return with_student_layers(zoo.build(zoo.FLAGSHIP, seed=seed), student)


def loss_and_optimizer(student, network, lr=1e-3):
    """The student's softmax cross-entropy and Adam for ``network``, as minicnn.train.fit takes them."""
    return (reference.ReferenceSoftmaxCrossEntropy(function=student.loss.softmax_cross_entropy),
            reference.ReferenceOptimizer(network, student.optim.adam, lr=lr))
