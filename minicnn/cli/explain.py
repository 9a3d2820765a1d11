"""`minicnn explain MODEL.npz KIND --out FILE.png`: one figure of what a saved network sees (minicnn.explain).

    minicnn explain runs/minicnn-best/model.npz filters --out filters.png
    minicnn explain runs/minicnn-best/model.npz activations --image 0 --layer re_lu --out maps.png
    minicnn explain runs/minicnn-best/model.npz saliency --image 0 1 2 3 --out saliency.png
    minicnn explain runs/minicnn-best/model.npz gradcam --image 0 1 2 3 --out gradcam.png
    minicnn explain runs/minicnn-best/model.npz fooling --image 0 1 --target 1 --out fooling.png
    minicnn explain runs/minicnn-best/model.npz class --out classes.png

The images are the test set's, prepared as the model file records (for an older file: as the run's
config.json beside it says, as `minicnn evaluate` does).
"""
import argparse

import numpy as np

from minicnn import data, explain
from minicnn.cli.arguments import add_data_dir_argument, non_negative_int, positive_float, positive_int
from minicnn.cli.commands import UsageError, input_preparation, load_npz_file
from minicnn.model import Sequential

KINDS = ("filters", "activations", "saliency", "gradcam", "fooling", "class")


def add_command(commands, formatter_class):
    """Add `explain` to the `minicnn` parser's subcommands."""
    parser = commands.add_parser("explain", formatter_class=formatter_class,
                                 help="draw what a saved network sees: filters, feature maps, saliency, Grad-CAM, "
                                      "fooling images, class visualizations",
                                 description="Draw one figure of what a saved network sees, for the test "
                                             "images named by --image (minicnn.explain; docs/explain.md shows "
                                             "each kind and what to look for).",
                                 epilog=__doc__.split("\n\n", 1)[1])
    parser.set_defaults(function=command_explain, command_name="explain", pca=None)
    parser.add_argument("model", metavar="MODEL.npz", help="a model saved by minicnn (a run's model.npz)")
    parser.add_argument("kind", choices=KINDS, metavar="KIND", help="the figure: " + ", ".join(KINDS))
    parser.add_argument("--out", required=True, metavar="FILE.png", help="where to write the figure")
    parser.add_argument("--image", type=non_negative_int, nargs="+", default=[0], metavar="N",
                        help="the test set's N-th image, counted from 0; several: one each (default: 0)")
    parser.add_argument("--layer", default=None, metavar="NAME",
                        help="a layer by its name in `minicnn summary` or its index (default: the first conv layer "
                             "for filters and activations, the last conv layer's activation for gradcam)")
    parser.add_argument("--target", type=non_negative_int, default=None, metavar="K",
                        help="the class: whose score saliency and gradcam explain (default: the predicted one), "
                             "to fool the model into (needed), to visualize (default: every class)")
    parser.add_argument("--method", choices=("gradient", "fgsm"), default="gradient",
                        help="fooling: CS231n's normalized gradient steps until fooled, or one fast gradient sign step")
    parser.add_argument("--step", type=positive_float, default=None,
                        help="fooling: each step's length (gradient: L2 norm, default 0.1; fgsm: the change of every "
                             "pixel, default 0.05), in the model's input units")
    parser.add_argument("--max-steps", type=positive_int, default=100, help="fooling: give up after this many steps")
    parser.add_argument("--max-change", type=positive_float, default=None,
                        help="fooling: clip the perturbation's every pixel to +-this (default: unbounded)")
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                        help="for a model file that does not record its preparation: standardize the pixels (default: "
                             "as the run's config.json beside the model says, else scale to [0, 1])")
    add_data_dir_argument(parser)
    return parser


def chosen_layer(model, text, conv_only):
    """The layer --layer names (a name or an index), as explain finds it; UsageError naming the conv layers."""
    layer = int(text) if text.lstrip("-").isdigit() else text
    try:
        return (explain.find_conv_layer(model, layer, 0) if conv_only else explain.find_layer(model, layer))[1]
    except ValueError as error:
        raise UsageError(f"--layer {text}: {error}") from None


def check_target(model, target, class_names):
    if target is not None and target >= explain.class_count(model):
        count = explain.class_count(model)
        raise UsageError(f"--target {target} is out of range: {model.name} has {count} classes, 0 ({class_names[0]}) "
                         f"to {count - 1} ({class_names[count - 1]})")


def test_images(arguments, model):
    """(indices, uint8 images, labels, prepared images) of the --image test images."""
    _, (images, labels) = data.load_fashion_mnist(arguments.data_dir)
    outside = [index for index in arguments.image if index >= len(images)]
    if outside:
        raise UsageError(f"--image {outside[0]} is out of range: the test set has {len(images):,} images, "
                         f"0 to {len(images) - 1}")
    indices = np.array(arguments.image)
    return indices, labels[indices], model.prepare(images[indices])


def probabilities(model, inputs):
    """The softmax of the model's inference logits, (N, K), host float64."""
    logits = model.predict_logits(inputs).astype(np.float64)
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def command_explain(arguments):
    """`minicnn explain MODEL.npz KIND --out FILE.png`: the figure, and a line saying what it shows."""
    from minicnn import plots   # matplotlib only where a figure is drawn
    from minicnn.plots import confidence_text
    model = load_npz_file(Sequential.load, arguments.model)
    if len(model.input_shape) != 3:
        raise UsageError(f"{arguments.model} takes {model.input_shape[0]} PCA features, not images: there are no "
                         "pixels to explain; give a convolutional network's model.npz")
    class_names = data.CLASS_NAMES["fashion-mnist"]
    check_target(model, arguments.target, class_names)
    layer = None
    if arguments.layer is not None:
        layer = chosen_layer(model, arguments.layer, conv_only=arguments.kind == "filters")
    elif arguments.kind in ("filters", "activations"):
        if not explain.conv_layer_names(model):
            raise UsageError(f"{arguments.model} has no conv layer: name a layer with --layer")
        layer = explain.find_conv_layer(model, None, 0)[1]
    if arguments.kind == "fooling" and arguments.target is None:
        raise UsageError("fooling needs --target K, the class to fool the model into: " +
                         ", ".join(f"{index} {name}" for index, name in enumerate(class_names)))
    out, kind = arguments.out, arguments.kind
    if kind == "filters":
        plots.plot_filters(explain.filters(model, layer.name), out, layer_name=f"{model.name} {layer.name}")
        print(f"the kernels of {layer.name} written to {out}")
        return 0
    model.input_preparation = input_preparation(model, arguments)   # what model.prepare then applies
    size = model.input_shape[1:]   # the range of pixels: what black and white images become
    pixel_range = tuple(float(value) for value in
                        model.prepare(np.stack([np.zeros(size), np.full(size, 255)]).astype(np.uint8))[:, 0, 0, 0])
    if kind == "class":
        targets = list(range(len(class_names))) if arguments.target is None else [arguments.target]
        images = explain.class_visualization(model, targets, pixel_range=pixel_range)
        chances, scores = probabilities(model, images), model.predict_logits(images)
        captions = [f"{class_names[target]}\nscore {scores[row, target]:.1f}, {confidence_text(chances[row, target])}"
                    for row, target in enumerate(targets)]
        plots.plot_class_visualization(images, out, captions, title=f"Class visualization of {model.name}:\n"
                                       "images made from noise to score high for a class")
        print(f"class visualization of {', '.join(class_names[target] for target in targets)} written to {out}")
        return 0
    indices, labels, inputs = test_images(arguments, model)
    chances = probabilities(model, inputs)
    predicted = chances.argmax(axis=1)
    answers = [f"test image {index}: {class_names[label]}\npredicted {class_names[guess]} "
               f"({confidence_text(chance[guess])})"
               for index, label, guess, chance in zip(indices, labels, predicted, chances)]
    if kind == "activations":
        outputs = explain.activations(model, inputs, layer.name)
        unit_names = class_names if layer is model.layers[-1] else None
        plots.plot_activations(inputs, outputs, out, f"{model.name} {layer.name}", answers, unit_names=unit_names)
        print(f"the output of {layer.name} for test image{'s' if len(indices) > 1 else ''} "
              f"{', '.join(map(str, indices))} written to {out}")
        return 0
    if kind in ("saliency", "gradcam"):
        explained = predicted if arguments.target is None else np.full(len(indices), arguments.target)
        captions = [f"{answer}\nscore of {class_names[target]}" for answer, target in zip(answers, explained)]
        if kind == "saliency":
            plots.plot_saliency(inputs, explain.saliency(model, inputs, explained), out, captions,
                                title=f"Saliency in {model.name}: the pixels whose change moves the class's score most")
        else:
            cam_layer = model.layers[explain.last_conv_activation(model)] if layer is None else layer
            try:
                maps = explain.grad_cam(model, inputs, explained, cam_layer.name)
            except ValueError as error:
                raise UsageError(f"--layer {arguments.layer}: {error}") from None
            plots.plot_grad_cam(inputs, maps, out, captions, title=f"Grad-CAM of {model.name} at {cam_layer.name}: "
                                "where the evidence for the class is")
        print(f"{kind} of the {'predicted class' if arguments.target is None else class_names[arguments.target]} "
              f"for test image{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))} written to {out}")
        return 0
    step = arguments.step or (0.05 if arguments.method == "fgsm" else 0.1)
    targets = np.full(len(indices), arguments.target)
    fooled = explain.fooling_images(model, inputs, targets, step=step, max_steps=arguments.max_steps,
                                    method=arguments.method, max_change=arguments.max_change, pixel_range=pixel_range)
    after = probabilities(model, fooled.images)
    fooled_captions = [f"{'fooled' if guess == arguments.target else 'NOT fooled'} after {steps} "
                       f"step{'s' if steps != 1 else ''}\npredicted {class_names[guess]} ({confidence_text(chance[guess])})"
                       for guess, steps, chance in zip(fooled.predictions, fooled.steps, after)]
    bound = "" if arguments.max_change is None else f", each pixel changed by at most {arguments.max_change:g}"
    plots.plot_fooling_images(inputs, fooled.images, fooled.perturbations, out, answers, fooled_captions,
                              title=f"Fooling {model.name} into {class_names[arguments.target]} "
                                    f"({arguments.method} steps of {step:g}{bound})")
    count = int((fooled.predictions == arguments.target).sum())
    print(f"{count} of {len(indices)} image{'s' if len(indices) > 1 else ''} now taken for "
          f"{class_names[arguments.target]} (largest pixel change {np.abs(fooled.perturbations).max():.3f}); "
          f"written to {out}")
    return 0
