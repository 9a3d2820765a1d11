"""What a network learned and why it answers what it does: filters, feature maps, saliency, Grad-CAM,
fooling images and class visualizations, after CS231n's NetworkVisualization assignment, Keras's
"visualizing what convnets learn" and Grad-CAM (Selvaraju et al., 2017).

    x = model.prepare(test_images[:4])                   # (4, 1, 28, 28) float32, as in training
    maps = explain.saliency(model, x, test_labels[:4])   # (4, 28, 28): |d score / d pixel|
    plots.plot_saliency(x, maps, "saliency.png")         # each image above its map

Arrays in, host NumPy arrays out, in the model's dtype, on either backend. A layer is named as
model.summary() names it ("conv2d_1") or by its index in model.layers. A class's score is its logit,
as in CS231n (a probability's gradient mixes every class's). Everything runs in inference mode and
leaves the model as it was: parameters, running statistics and its random generator untouched, and
the grads a backward writes put back (the same arrays, the same values), so an explanation between a
training step's backward and its optimizer step changes nothing. Like any forward, it leaves its own
caches: run a forward before the next backward.
"""
import contextlib
from typing import NamedTuple

import numpy as np

from minicnn import backend
from minicnn.layers import AvgPool2D, Conv2D, MaxPool2D
from minicnn.layers.base import every_layer
from minicnn.runtime import threads


# ----------------------------------------------------------------------------
# Naming layers, checking inputs, keeping the gradients
# ----------------------------------------------------------------------------

def conv_layer_names(model):
    """The names of the model's Conv2D layers, in order."""
    return [layer.name for layer in model.layers if isinstance(layer, Conv2D)]


def describe_conv_layers(model):
    names = conv_layer_names(model)
    return f"its conv layers are {', '.join(names)}" if names else "it has no conv layer"


def find_layer(model, layer):
    """(index, layer) of the layer named ``layer`` (as model.summary() names it) or at index ``layer``
    of model.layers (negative counts from the end). ValueError naming the conv layers otherwise."""
    count = len(model.layers)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if -count <= layer < count:
            return int(layer) % count, model.layers[layer]
        raise ValueError(f"{model.name} has {count} layers, numbered 0 to {count - 1}: there is no layer {layer}")
    names = [each.name for each in model.layers]
    if layer in names:
        return names.index(layer), model.layers[names.index(layer)]
    raise ValueError(f"{model.name} has no layer {layer!r}; {describe_conv_layers(model)} "
                     "(model.summary() lists every layer)")


def find_conv_layer(model, layer, default_index):
    """(index, Conv2D) for ``layer``, or for the model's first (``default_index`` 0) or last (-1) conv layer
    where ``layer`` is None; ValueError for a layer that is not a convolution."""
    if layer is None:
        names = conv_layer_names(model)
        if not names:
            raise ValueError(f"{model.name} has no conv layer")
        layer = names[default_index]
    index, found = find_layer(model, layer)
    if not isinstance(found, Conv2D):
        raise ValueError(f"{found.name} is a {type(found).__name__}, not a convolution; {describe_conv_layers(model)}")
    return index, found


def device_images(model, images):
    """``images`` (N, C, H, W) of floats as a device array in the model's dtype; ValueError naming what is
    wrong: a network that takes features, not images; another shape; unprepared (integer) pixels."""
    if len(model.input_shape) != 3:
        raise ValueError(f"{model.name} takes {model.input_shape[0]} features (such as PCA components), not "
                         "images (C, H, W): there is no image whose pixels could be explained")
    if images.ndim != 4 or tuple(images.shape[1:]) != model.input_shape:
        raise ValueError(f"{model.name} takes images (N, {', '.join(map(str, model.input_shape))}), got an array "
                         f"of shape {tuple(images.shape)}")
    if np.dtype(images.dtype).kind != "f":
        raise ValueError(f"the images are {images.dtype}, not prepared: give model.prepare(images), the floats "
                         f"{model.name} was trained on")
    return backend.to_device(images, dtype=model.dtype)


def class_count(model):
    if len(model.output_shape) != 1:
        raise ValueError(f"{model.name} outputs {model.output_shape}, not one score per class")
    return model.output_shape[0]


def checked_labels(model, labels, count):
    """``labels`` (count,) as host int64, each a class of the model; ValueError naming the first that is not."""
    labels = np.asarray(backend.to_numpy(labels))
    if labels.shape != (count,) or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"expected one whole-number class per image, shape ({count},), got {labels.dtype} "
                         f"shape {labels.shape}")
    classes = class_count(model)
    outside = labels[(labels < 0) | (labels >= classes)]
    if outside.size:
        raise ValueError(f"class {outside[0]} is out of range: {model.name} has {classes} classes, 0 to {classes - 1}")
    return labels.astype(np.int64)


def score_gradient(labels, logits):
    """d(score of each image's class)/d(logits): one-hot rows (N, K) in the logits' dtype, on the device."""
    identity = backend.xp.eye(logits.shape[1], dtype=logits.dtype)
    return identity[backend.to_device(labels)]


@contextlib.contextmanager
def gradients_kept(model):
    """Within: backward may write every layer's grads; on leaving, each grads dict holds again the arrays
    it held, with their values (restored too, for a backward that writes into its old arrays). The layers
    inside a block (Residual) are put back one by one: the block's own grads are theirs, seen through it."""
    saved = [(layer.grads, {key: (array, array.copy()) for key, array in layer.grads.items()})
             for layer in every_layer(model.layers) if not getattr(layer, "sublayers", list)()]
    try:
        yield
    finally:
        for grads, before in saved:
            grads.clear()
            for key, (array, values) in before.items():
                array[...] = values
                grads[key] = array


def forward_keeping(model, x, index):
    """(the output of model.layers[index], the logits), in inference mode, running the layers one at a time
    (Sequential.forward runs BatchNorm -> ReLU -> MaxPool2D as one fused block: the same numbers)."""
    with threads.step_threads():
        for position, layer in enumerate(model.layers):
            x = layer.forward(x, training=False)
            if position == index:
                kept = x
    return kept, x


def host(array):
    """A contiguous host copy, which nothing in the model shares."""
    return np.array(backend.to_numpy(array), order="C")


# ----------------------------------------------------------------------------
# What the network computes
# ----------------------------------------------------------------------------

def filters(model, layer=None):
    """The kernels of a conv layer (the first by default): (F, C, kh, kw), a copy of its W."""
    _, conv = find_conv_layer(model, layer, 0)
    return host(conv.params["W"])


def activations(model, images, layer):
    """The output of ``layer`` (any layer) for ``images`` (N, C, H, W): feature maps (N, F, h, w) after a
    convolution, BatchNorm, activation or pooling; (N, D) after a Dense layer."""
    index, _ = find_layer(model, layer)
    outputs, _ = forward_keeping(model, device_images(model, images), index)
    return host(outputs)


def saliency(model, images, labels):
    """|d score_label / d image|, the largest over the channels: (N, H, W) (Simonyan et al., 2014, as in
    CS231n). ``labels`` (N,): the class whose score each map explains (the true or the predicted one)."""
    x = device_images(model, images)
    labels = checked_labels(model, labels, len(x))
    with gradients_kept(model):
        logits = model.forward(x, training=False)
        gradient = model.backward(score_gradient(labels, logits), input_gradient=True)
    return host(backend.xp.abs(gradient).max(axis=1))


def grad_cam(model, images, labels, layer=None):
    """Grad-CAM maps (N, H, W) of ``layer``'s feature maps (any layer with (C, h, w) outputs), upsampled
    to the image. By default the last conv layer's activation: the last of the layers after it that keep
    its output's shape (its BatchNorm and ReLU, as Keras's Grad-CAM example takes "block14_sepconv2_act"):
    a convolution's own output, before them, is offset by what BatchNorm subtracts and gives poor maps.

    With A_k (h, w) the layer's k-th feature map and y the score of the label's class:
        alpha_k = mean over (i, j) of dy / dA_k[i, j]       how much the class wants feature k
        map = ReLU(sum over k of alpha_k * A_k)            where those features are, (h, w)
    then bilinear upsampling to (H, W), each of the h x w positions placed at the centre of its receptive
    field: a network of unpadded convolutions sees the image's middle at its edge positions, which a plain
    resize would stretch over the whole image. (For "same" padding the two agree: PyTorch's interpolate,
    align_corners=False.) Not normalized: the values are in units of the score.
    """
    index, chosen = find_layer(model, last_conv_activation(model) if layer is None else layer)
    if len(chosen.output_shape) != 3:
        raise ValueError(f"Grad-CAM needs a layer with feature maps (C, h, w); {chosen.name} gives "
                         f"{chosen.output_shape}; {describe_conv_layers(model)}")
    x = device_images(model, images)
    labels = checked_labels(model, labels, len(x))
    with gradients_kept(model):
        maps, logits = forward_keeping(model, x, index)
        gradient = score_gradient(labels, logits)   # d score / d logits, then back to the layer's output
        with threads.step_threads():
            for later in reversed(model.layers[index + 1:]):
                gradient = later.backward(gradient)
    weights = gradient.mean(axis=(2, 3))
    cam = backend.xp.maximum((weights[:, :, None, None] * maps).sum(axis=1), 0)
    return host(upsample_bilinear(cam, model.input_shape[1:], receptive_field_centres(model, index)))


def last_conv_activation(model):
    """The index of the last layer that keeps the shape of the last conv layer's output (grad_cam's default)."""
    index, conv = find_conv_layer(model, None, -1)
    while index + 1 < len(model.layers) and model.layers[index + 1].output_shape == conv.output_shape:
        index += 1
    return index


def receptive_field_centres(model, index):
    """((offset, stride) of the rows, of the columns): position r of model.layers[index]'s output is centred
    on image pixel offset + stride * r (pixel 0 being the first); None past a layer that is not a
    convolution, a pooling or an element-wise layer."""
    geometry = [(0.0, 1.0), (0.0, 1.0)]
    for layer in model.layers[:index + 1]:
        if isinstance(layer, Conv2D):
            windows, steps, starts = layer.kernel_size, (layer.stride,) * 2, (-layer.pads[0], -layer.pads[2])
        elif isinstance(layer, (MaxPool2D, AvgPool2D)):
            windows, starts = layer.pool_size, (0, 0)
            steps = (layer.stride or windows[0], layer.stride or windows[1])
        elif layer.output_shape == layer.input_shape:
            continue
        else:
            return None
        geometry = [(offset + stride * (start + (window - 1) / 2), stride * step)
                    for (offset, stride), window, step, start in zip(geometry, windows, steps, starts)]
    return geometry


def upsample_bilinear(maps, size, centres=None):
    """(N, h, w) -> (N, H, W) by bilinear interpolation, with ``centres`` ((offset, stride) per axis, as
    receptive_field_centres gives): output pixel i samples the maps at (i - offset) / stride, clamped to
    the edge. None: pixel centres aligned, (i + 0.5) * h / H - 0.5 (PyTorch's and OpenCV's resize)."""
    for axis, new in ((1, size[0]), (2, size[1])):
        old = maps.shape[axis]
        offset, stride = centres[axis - 1] if centres else ((new / old - 1) / 2, new / old)
        position = np.clip((np.arange(new) - offset) / stride, 0, old - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, old - 1)
        shape = [1, 1, 1]
        shape[axis] = new
        fraction, xp = backend.to_device((position - low).reshape(shape), dtype=maps.dtype), backend.xp
        maps = (xp.take(maps, backend.to_device(low), axis=axis) * (1 - fraction)
                + xp.take(maps, backend.to_device(high), axis=axis) * fraction)
    return maps


# ----------------------------------------------------------------------------
# Images made by gradient steps
# ----------------------------------------------------------------------------

class FoolingImages(NamedTuple):
    """What fooling_images returns, host arrays: the fooling images (N, C, H, W); their perturbations,
    fooling image minus original; the model's predictions for them (N,); the steps each took (N,)."""
    images: np.ndarray
    perturbations: np.ndarray
    predictions: np.ndarray
    steps: np.ndarray


def fooling_images(model, images, targets, step=0.1, max_steps=100, method="gradient", max_change=None,
                   pixel_range=None):
    """Images the model takes for ``targets`` (N,) that look like ``images`` (N, C, H, W) (Szegedy et al.,
    2014, as in CS231n), by gradient ascent on the image of the target's score y.

    - method "gradient" (CS231n's): x += step * g / ||g|| with g = dy/dx (each image's L2 norm), until the
      model predicts the target (that image then stays as it is) or ``max_steps`` steps.
    - method "fgsm" (the fast gradient sign method, Goodfellow et al., 2015): one step x += step * sign(g),
      every pixel moved by ``step``, whether or not that is enough.
    - max_change: after each step, every pixel of the perturbation is clipped to [-max_change, max_change]
      (an L-infinity bound); None leaves it free, as CS231n does.
    - pixel_range: (low, high), what prepared pixels 0 and 255 become: the image is clipped to it after
      each step, so that it stays an image a camera could give; None: unclipped.
    An image already taken for its target is returned as it is, after 0 steps. Returns a FoolingImages;
    an image is fooled where its prediction is its target.
    """
    if method not in ("gradient", "fgsm"):
        raise ValueError(f"method is 'gradient' (CS231n's repeated steps) or 'fgsm' (one sign step), got {method!r}")
    if not (isinstance(max_steps, (int, np.integer)) and max_steps >= 1) or not step > 0:
        raise ValueError(f"step must be > 0 and max_steps a whole number >= 1, got {step!r} and {max_steps!r}")
    xp = backend.xp
    original = device_images(model, images)
    targets = checked_labels(model, targets, len(original))
    x, steps = original.copy(), np.zeros(len(original), dtype=np.int64)
    with gradients_kept(model):
        for _ in range(1 if method == "fgsm" else max_steps):
            logits = model.forward(x, training=False)
            moving = backend.to_numpy(logits.argmax(axis=1)) != targets
            if not moving.any():
                break
            gradient = model.backward(score_gradient(targets, logits), input_gradient=True)
            move = xp.sign(gradient) * float(step) if method == "fgsm" else normalized(gradient, step)
            x = x + move * backend.to_device(moving.reshape(-1, 1, 1, 1), dtype=model.dtype)
            if max_change is not None:
                x = original + xp.clip(x - original, -float(max_change), float(max_change))
            x = clipped(x, pixel_range)
            steps += moving
        predictions = backend.to_numpy(model.forward(x, training=False).argmax(axis=1))
    return FoolingImages(host(x), host(x - original), np.asarray(predictions, dtype=np.int64), steps)


def class_visualization(model, label, steps=200, step=0.5, l2_reg=1e-3, max_jitter=2, blur_every=5,
                        blur_sigma=0.8, pixel_range=None, seed=0):
    """An image the model scores high for class ``label`` (Simonyan et al., 2014; Yosinski et al., 2015),
    by CS231n's recipe: from faint noise, ``steps`` steps of gradient ascent on score - l2_reg * ||x||^2,
    each of length ``step`` (the gradient divided by its L2 norm), the image shifted at random by up to
    ``max_jitter`` pixels before each step and back after it, clipped to ``pixel_range`` (as for
    fooling_images), and blurred by a Gaussian of ``blur_sigma`` pixels every ``blur_every`` steps (more
    blur than CS231n's 0.5 every 10, for images of 28 pixels, not 224). The regularization, the jitter and
    the blur keep the ascent from the high-frequency patterns it finds alone.

    ``label``: a class (returns one image (C, H, W)) or a sequence of them (returns (K, C, H, W), each made
    on its own: in inference mode the images of a batch do not meet). ``seed`` seeds the noise and jitter.
    """
    labels = checked_labels(model, np.atleast_1d(label), np.size(label))
    rng = np.random.default_rng(seed)
    x = device_images(model, (0.1 * rng.standard_normal((len(labels),) + model.input_shape)).astype(model.dtype))
    xp = backend.xp
    with gradients_kept(model):
        for count in range(steps):
            rows, columns = (int(shift) for shift in rng.integers(-max_jitter, max_jitter + 1, size=2))
            x = xp.roll(x, (rows, columns), axis=(2, 3))
            logits = model.forward(x, training=False)
            gradient = model.backward(score_gradient(labels, logits), input_gradient=True) - 2 * l2_reg * x
            x = clipped(xp.roll(x + normalized(gradient, step), (-rows, -columns), axis=(2, 3)), pixel_range)
            if blur_every and count % blur_every == 0:   # as CS231n: the last steps sharpen again
                x = gaussian_blur(x, blur_sigma)
    return host(x[0] if np.ndim(label) == 0 else x)


def normalized(gradient, length):
    """``gradient`` (N, C, H, W) scaled to L2 norm ``length``, each image's own (a zero one stays zero)."""
    norms = backend.xp.sqrt((gradient * gradient).sum(axis=(1, 2, 3), keepdims=True))
    return gradient * (float(length) / backend.xp.maximum(norms, float(np.finfo(gradient.dtype).tiny)))


def clipped(x, pixel_range):
    return x if pixel_range is None else backend.xp.clip(x, float(pixel_range[0]), float(pixel_range[1]))


def gaussian_blur(images, sigma):
    """(N, C, H, W) blurred by a Gaussian of ``sigma`` pixels, one axis at a time, edge pixels repeated."""
    radius = max(1, int(np.ceil(3 * sigma)))
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights /= weights.sum()
    for axis in (2, 3):
        padding = [(0, 0)] * 4
        padding[axis] = (radius, radius)
        padded = backend.xp.pad(images, padding, mode="edge")
        size = images.shape[axis]
        images = sum(float(weight) * padded[(slice(None),) * axis + (slice(offset, offset + size),)]
                     for offset, weight in enumerate(weights))
    return images
