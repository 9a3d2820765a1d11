"""Naive network visualization, after CS231n's NetworkVisualization: which pixels a classifier looks at
(saliency maps) and how little an image must change for it to answer another class (fooling images).

Both start from one gradient, that of a class's score with respect to the image, which the model's own
forward and backward give: a forward computes the scores, a backward of the one-hot rows of the chosen
classes gives d score / d image (no loss is involved; a class's score is its logit, as in CS231n).

Read this before minicnn/explain.py, which computes the same for a minicnn model on either backend and
leaves the model as it was. A model here is anything with ``forward(x) -> scores`` (N, K) and
``backward(dscores) -> dx`` (x's shape): a minicnn Sequential, or the Network below. Host NumPy arrays;
the dtype of x is kept.
"""
import numpy as np


class Network:
    """A small image classifier, given: the image flattened, then dense layers, a ReLU between each two.

    Network(weights): ``weights`` a list of (w, b) pairs, w (D, units) and b (units,), the first D being
    C*H*W of the images and the last units the K classes.
    - forward(x): images x (N, C, H, W) -> scores (N, K); caches each dense layer's input.
    - backward(dscores): dscores (N, K) -> dx (N, C, H, W), the gradient of sum(scores * dscores).
    """

    def __init__(self, weights):
        self.weights = [(w, b) for w, b in weights]

    def forward(self, x):
        self.image_shape = x.shape
        h = x.reshape(len(x), -1)
        self.inputs = []
        for index, (w, b) in enumerate(self.weights):
            if index > 0:
                h = np.maximum(h, 0)
            self.inputs.append(h)
            h = h @ w + b
        return h

    def backward(self, dscores):
        dh = dscores
        for index in reversed(range(len(self.weights))):
            w, _ = self.weights[index]
            dh = dh @ w.T
            if index > 0:
                # this layer's input is a ReLU's output: positive exactly where the ReLU let its input through
                dh = dh * (self.inputs[index] > 0)
        return dh.reshape(self.image_shape)


def saliency_map(model, x, y):
    """|d score_y / d x|, the largest over the channels (Simonyan et al., 2014): how much a small change of
    each pixel would move the score of the image's class, either way.

    Inputs:
    - model: forward(x) -> scores (N, K) and backward(dscores) -> dx (N, C, H, W).
    - x: images (N, C, H, W).
    - y: (N,) integer classes: map n explains the score of class y[n] (the true or the predicted one).

    Returns saliency (N, H, W), x's dtype. The model's caches are those of this forward.
    """
    ### BEGIN SOLUTION
    scores = model.forward(x)
    # the sum of every image's own class score: its gradient with respect to the scores is one-hot rows
    dscores = np.zeros_like(scores)
    for n in range(len(y)):
        dscores[n, y[n]] = 1.0
    # images do not meet in inference, so row n of dx is d score_y[n] / d x[n] alone
    dx = model.backward(dscores)
    # a pixel moves the score whichever way its gradient points; it is as salient as its most salient channel
    return np.abs(dx).max(axis=1)
    ### END SOLUTION


def fooling_image(model, x, target, step=1.0, max_steps=100):
    """An image that looks like ``x`` and that the model classifies as ``target`` (Szegedy et al., 2014), by
    CS231n's gradient ascent on the target's score y: each step moves the image by

        x = x + step * g / ||g||,   g = dy / dx,   ||g|| its L2 norm over the whole image,

    until the model predicts ``target`` (checked before each step) or ``max_steps`` steps are taken.

    Inputs:
    - model: forward(x) -> scores (1, K) and backward(dscores) -> dx, as for saliency_map.
    - x: one image (1, C, H, W), left as it is.
    - target: the class (an int) the model should answer.
    - step: the L2 length of each step, so no answer is further than step * max_steps from x.
    - max_steps: the most steps.

    Returns fooling (1, C, H, W), x's dtype: a copy of x if the model already predicts ``target``.
    """
    ### BEGIN SOLUTION
    fooling = x.copy()
    for _ in range(max_steps):
        scores = model.forward(fooling)
        if scores[0].argmax() == target:
            break
        dscores = np.zeros_like(scores)
        dscores[0, target] = 1.0
        gradient = model.backward(dscores)
        norm = np.sqrt((gradient * gradient).sum())
        if norm == 0:
            break   # nothing the image could change would move the score: no direction to step in
        # the same length whatever the gradient's size: its direction is what the score wants
        fooling = fooling + gradient * (step / norm)
    return fooling
    ### END SOLUTION
