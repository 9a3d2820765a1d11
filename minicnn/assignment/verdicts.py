"""Values judged by what they must do rather than compared with one right answer: a fooling image is right
when the grader's own network takes it for the target and it is no further from the image than the steps
allow. And the central differences of the saliency and of the residual block, for the drawn checks. Every
network and branch here is built in the grader's process from the case's weights, by
minicnn.reference.visualization.Network and minicnn.reference.residual.Branch: nothing the student's
process made or said is believed but the arrays it returned.
"""
import numpy as np

from minicnn.assignment import cases
from minicnn.gradcheck import numerical_gradient
from minicnn.reference import residual, visualization


def grader_network(settings, arrays):
    """The case's network, made here, in float64."""
    return visualization.Network([(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                                  for w, b in cases.network_weights(settings, arrays)])


def fooling_problem(settings, arrays, fooling):
    """"" for a fooling image the grader's network classifies as the target, at most step * max_steps (L2) from
    the image; else the sentence that says what is wrong (its shape was checked before)."""
    network, target, step, max_steps = grader_network(settings, arrays), settings["target"], settings["step"], \
        settings["max_steps"]
    image, fooling = np.asarray(arrays["x"][:1], dtype=np.float64), np.asarray(fooling, dtype=np.float64)
    distance, bound = float(np.sqrt(((fooling - image) ** 2).sum())), step * max_steps
    if distance > bound * (1 + 1e-9):
        return (f"your image is {distance:.3g} from x (L2), further than {max_steps} steps of length {step} can go "
                f"({bound:.3g}): each step is step * g / ||g||, the gradient divided by its L2 norm over the whole "
                "image, so that every step has length step")
    scores, before = network.forward(fooling)[0], network.forward(image)[0]
    answer = int(scores.argmax())
    if answer == target:
        return ""
    said = f"the grader's network classifies your image as class {answer}, not the target {target}"
    if distance == 0:
        return f"{said}: your image is x unchanged; step until the network predicts the target (or max_steps steps)"
    if scores[target] < before[target]:
        return (f"{said}: your steps lower the target's score; climb it, x + step * g / ||g||, with g the gradient "
                "of the target's score (not of the loss, not of the predicted class's score)")
    return (f"{said}: step until the network predicts the target, checking before each step, up to max_steps "
            "steps of length step")


# the outputs judged, not compared: key -> judge(settings, arrays, value) -> "" or what is wrong
JUDGED = {"fooling_image.fooling": fooling_problem}


def numerical_saliency(settings, arrays, step=1e-6):
    """max over the channels of |d score_y / d x| by central differences of the grader's network, (N, H, W)."""
    network, labels = grader_network(settings, arrays), arrays["y"]
    x = np.array(arrays["x"], dtype=np.float64, order="C")
    gradient = numerical_gradient(lambda: network.forward(x)[np.arange(len(x)), labels].sum(), x, step)
    return np.abs(gradient).max(axis=1)


def grader_branches(settings, arrays):
    """The case's residual block's (body, shortcut), made here, in float64; the shortcut None for the identity."""
    def branch(name):
        return residual.Branch([(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                                for w, b in cases.branch_weights(settings, arrays, name)])
    return branch("body"), branch("shortcut") if settings["shortcut"] else None


def numerical_residual_gradient(settings, arrays, step=1e-6):
    """d sum(out * dout) / dx of the case's block by central differences of the grader's branches, x's shape."""
    body, shortcut = grader_branches(settings, arrays)
    x, dout = np.array(arrays["x"], dtype=np.float64, order="C"), np.asarray(arrays["dout"], dtype=np.float64)

    def objective():
        out = body(x)[0] + (x if shortcut is None else shortcut(x)[0])
        return (out * dout).sum()

    return numerical_gradient(objective, x, step)
