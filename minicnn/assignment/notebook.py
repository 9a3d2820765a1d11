"""The student's notebook, CS231n's way: implement, compare with the expected values, gradient-check; then
sanity-check the initial loss (about ln 10), overfit 100 images, and train the flagship with the student's
layers for one short epoch, with a progress bar and curves; with the visualization part, the student's
saliency maps and a fooling image of that flagship, drawn by minicnn.plots.

Written as nbformat 4 JSON directly (no Jupyter package is needed to make an assignment).
The environment variable MINICNN_NOTEBOOK_IMAGES caps the images every training cell uses:
the test suite runs the notebook headless with a few dozen.
"""
import json
import textwrap

SETUP = """\
import os

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

from minicnn.assignment import checks, student, training
from minicnn.train import evaluate, fit

%matplotlib inline
# Loops over pixels multiply many small matrices, where a second thread mostly waits: one is faster
# (measured: one flagship step of the reference loops took 0.9 s on one thread, 14 s on two busy cores).
threadpool_limits(1)
# Every training cell below uses at most this many images (unset: the sizes written in the cells).
IMAGE_LIMIT = int(os.environ.get("MINICNN_NOTEBOOK_IMAGES", "0")) or None


def at_most(count):
    return count if IMAGE_LIMIT is None else min(count, IMAGE_LIMIT)"""

INTRODUCTION = """\
# Assignment: {titles}

You write {count} in `student/` (the list is in README.md); the other functions there are given, written
the same way. Each function's docstring says what it receives, what it returns and what its cache holds:
write the body where `raise NotImplementedError` stands.

For each part, in this order: implement it, **compare it with the expected values** (the reference
solution's outputs on fixed small inputs: a right answer differs by rounding, about 1e-15), then
**gradient-check** it on cases drawn at random (the same for everyone). Then the whole network: its
**initial loss** should be about ln 10, it should **overfit 100 images**, and last your layers train
**the flagship** network for one short epoch on real Fashion-MNIST.

Every check loads your files afresh: edit `student/*.py`, then run the cell again. When the notebook is
happy, `minicnn assignment grade .` gives the points (README.md says how)."""

PART = """\
## {number}. {title}: `student/{module}.py`

Write {functions}. The math, step by step, is in minicnn's {reading}{docs_copy}; the shapes and
the cache are in each docstring. When your version passes, read {fast}."""

SANITY = """\
## {number}. Sanity checks: the initial loss, and overfitting 100 images

A small network made of your layers (two convolutions with BatchNorm, ReLU and leaky ReLU, max and
average pooling, dropout, a dense layer), trained with your loss and your Adam. Before any training it
knows nothing, so its softmax is about uniform over the 10 classes and the loss about -ln(1/10) = ln 10.
Then it should learn 100 images by heart: if it cannot, no bigger run will work."""

INITIAL_LOSS = """\
mine = student.load_student(".")
train, test = training.fashion_mnist(at_most(1000), at_most(1000))
network = student.small_network(mine, seed=0)
loss, optimizer = student.loss_and_optimizer(mine, network, lr=1e-2)
initial = loss.forward(network.forward(train[0][:100], training=False), train[1][:100])
print(f"initial loss {initial:.3f}; uniform guessing over 10 classes gives ln 10 = {np.log(10):.3f}")"""

OVERFIT = """\
few = (train[0][:at_most(100)], train[1][:at_most(100)])
history = fit(network, optimizer, few, epochs=25, batch_size=25, loss=loss)
_, accuracy = evaluate(network, *few, loss=loss)
print(f"accuracy on these {len(few[0])} training images: {accuracy:.0%} (it should be about 100%)")
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(history["epoch"], history["loss"], marker="o")
left.set(xlabel="epoch", ylabel="training loss", title="Overfitting a few images")
right.plot(history["epoch"], history["accuracy"], marker="o")
right.set(xlabel="epoch", ylabel="training accuracy")
plt.show()"""

FLAGSHIP = """\
## {number}. Your layers in the flagship

The flagship is Awasthi and Soni's enhanced CNN (`minicnn.zoo.build("awasthi-enhanced-cnn")`: three
Conv-BatchNorm-ReLU-MaxPool blocks, then Dense 256, 128 and 10 with dropout). Here every one of its layers
is the twin (minicnn.reference) computing with your functions, with the same weights; the loss and Adam are
yours too. One short epoch over a few thousand images: the loop below is the one `minicnn.train.fit` runs,
written out so that you see each step. Loops in Python are slower than minicnn's fast layers: with the
reference solution's loops, this epoch over 6000 images took 83 s on a 2-core AMD EPYC busy with other
work, and then classified 77.4% of 2000 test images right."""

FLAGSHIP_BUILD = """\
network = student.flagship(mine, seed=0)
print(network.summary())
train, test = training.fashion_mnist(at_most(6000), at_most(2000))
loss, optimizer = student.loss_and_optimizer(mine, network, lr=1e-3)"""

FLAGSHIP_EPOCH = """\
try:
    import ipywidgets  # noqa: F401  (the notebook's own progress bar needs it)
    from tqdm.auto import tqdm
except ImportError:
    from tqdm import tqdm  # a text bar, without tqdm.auto's "IProgress not found" warning

batch_size = 64
order = np.random.default_rng(0).permutation(len(train[0]))
steps = {"loss": [], "accuracy": []}
bar = tqdm(range(0, len(order), batch_size), desc="one epoch of the flagship", unit="batch")
for start in bar:
    batch = order[start:start + batch_size]
    logits = network.forward(train[0][batch], training=True)
    steps["loss"].append(loss.forward(logits, train[1][batch]))
    network.backward(loss.backward())      # your backward functions, every layer, last to first
    optimizer.step()                       # your Adam, every parameter
    steps["accuracy"].append(float((logits.argmax(axis=1) == train[1][batch]).mean()))
    bar.set_postfix(loss=f"{steps['loss'][-1]:.3f}")
_, test_accuracy = evaluate(network, *test, loss=loss)
print(f"one epoch on {len(order)} images: {test_accuracy:.1%} of {len(test[0])} test images classified right")"""

CURVES = """\
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(steps["loss"])
left.set(xlabel="step", ylabel="training loss", title="The flagship with your layers")
right.plot(steps["accuracy"])
right.set(xlabel="step", ylabel="training accuracy of the batch")
plt.show()"""

VISUALIZATION = """\
## {number}. What your flagship looks at, and how little fools it

Your `saliency_map` and `fooling_image` on the flagship you just trained (every layer computing with your
functions): which pixels move each class's score most, and an image changed in small steps until the
network calls it another class. The same pictures for a trained network are in minicnn's docs/explain.md."""

SALIENCY = """\
from IPython.display import Image, display

from minicnn import plots
from minicnn.data import CLASS_NAMES

names = CLASS_NAMES["fashion-mnist"]
visualization = student.load_module(".", "visualization")
images, labels = test[0][:4], test[1][:4]
maps = visualization.saliency_map(network, images, labels)
display(Image(plots.plot_saliency(images, maps, "saliency.png", captions=[names[label] for label in labels])))"""

FOOLING = """\
image = test[0][:1]
answer = int(network.predict(image)[0])
target = (answer + 1) % 10   # any class the network does not answer
fooling = visualization.fooling_image(network, image, target, step=0.5, max_steps=100)
fooled = int(network.predict(fooling)[0])
print(f"the network answers {names[fooled]} for the fooling image (the target: {names[target]}); it is "
      f"{np.sqrt(((fooling - image) ** 2).sum()):.3g} from the image (L2), its largest pixel change "
      f"{np.abs(fooling - image).max():.3g}")
display(Image(plots.plot_fooling_images(image, fooling, fooling - image, "fooling.png", captions=[names[answer]],
                                        fooled_captions=[names[fooled]])))"""

DONE = """\
## Done?

`minicnn assignment grade .` runs the tests your teacher grades with (each in its own process, with a time
limit) and prints one line per test with its points; README.md says what to hand in."""


def cell(kind, text, number):
    source = textwrap.dedent(text).strip("\n").splitlines(keepends=True)
    entry = {"cell_type": kind, "id": f"cell-{number}", "metadata": {}, "source": source}
    return {**entry, "execution_count": None, "outputs": []} if kind == "code" else entry


def notebook(parts, docs_copied):
    """The notebook of an assignment of ``parts`` (in reading order), as a JSON string."""
    count = sum(len(part.functions) for part in parts)
    cells = [("markdown", INTRODUCTION.format(titles=", ".join(part.title for part in parts),
                                              count=f"{count} function{'s' * (count != 1)}")),
             ("code", SETUP)]
    for number, part in enumerate(parts, start=1):
        functions = ", ".join(f"`{name}`" for name in part.functions)
        cells += [("markdown", PART.format(number=number, title=part.title[0].upper() + part.title[1:],
                                           module=part.module, functions=functions, reading=part.reading,
                                           fast=part.fast,
                                           docs_copy=" (a copy is in this folder's docs/)" if docs_copied else "")),
                  ("code", f'checks.compare_with_expected("{part.name}")'),
                  ("code", f'checks.gradient_check("{part.name}")')]
    cells += [("markdown", SANITY.format(number=len(parts) + 1)), ("code", INITIAL_LOSS), ("code", OVERFIT),
              ("markdown", FLAGSHIP.format(number=len(parts) + 2)), ("code", FLAGSHIP_BUILD),
              ("code", FLAGSHIP_EPOCH), ("code", CURVES)]
    if any(part.name == "visualization" for part in parts):
        cells += [("markdown", VISUALIZATION.format(number=len(parts) + 3)), ("code", SALIENCY), ("code", FOOLING)]
    cells.append(("markdown", DONE))
    document = {"cells": [cell(kind, text, number) for number, (kind, text) in enumerate(cells, start=1)],
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                             "language_info": {"name": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1) + "\n"
