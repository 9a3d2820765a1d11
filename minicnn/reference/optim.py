"""Naive update rules, the formulas of minicnn/optim.py (PyTorch's) one parameter at a time.

Every rule is ``rule(param, grad, state, **settings) -> new_param``: ``state`` is
a dict the rule keeps for this one parameter between steps (empty at first,
filled by the rule), and the new value is returned, never written into param.
Keep settings Python floats: a NumPy float64 scalar would turn float32 into float64.
"""
import numpy as np


def sgd_momentum(param, grad, state, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """Stochastic gradient descent with (optional) momentum, PyTorch's rule.

    state["velocity"] (param's shape): the running direction, set to the first gradient at the first step.
    Returns the updated parameter (param's shape and dtype).
    """
    ### BEGIN SOLUTION
    # L2 regularization: its gradient, weight_decay * param, joins the loss's
    grad = grad + weight_decay * param if weight_decay else grad
    if momentum:
        if "velocity" not in state:
            # PyTorch starts the velocity at the first gradient, undamped
            state["velocity"] = grad.copy()
        else:
            # keep a fraction of the old direction, add the new gradient
            state["velocity"] = momentum * state["velocity"] + (1.0 - dampening) * grad
        # Nesterov looks one velocity ahead
        grad = grad + momentum * state["velocity"] if nesterov else state["velocity"]
    return param - lr * grad
    ### END SOLUTION


def rmsprop(param, grad, state, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
    """RMSprop, PyTorch's rule: each value's step is divided by the root of its recent squared gradients.

    state: "square" (running mean of grad^2), "mean" (of grad, when centered), "momentum_buffer" (with momentum).
    Returns the updated parameter.
    """
    ### BEGIN SOLUTION
    grad = grad + weight_decay * param if weight_decay else grad
    # a running mean of the squared gradient: large where the gradient has been large
    state["square"] = alpha * state.get("square", np.zeros_like(param)) + (1.0 - alpha) * (grad * grad)
    if centered:
        # centered: divide by the running variance instead of the running second moment
        state["mean"] = alpha * state.get("mean", np.zeros_like(param)) + (1.0 - alpha) * grad
        denominator = np.sqrt(state["square"] - state["mean"] * state["mean"]) + eps
    else:
        denominator = np.sqrt(state["square"]) + eps
    if momentum:
        state["momentum_buffer"] = momentum * state.get("momentum_buffer", np.zeros_like(param)) + grad / denominator
        return param - lr * state["momentum_buffer"]
    return param - lr * (grad / denominator)
    ### END SOLUTION


def adam(param, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """Adam, PyTorch's rule (weight_decay is L2 added to the gradient).

    state: "step" (t, the number of updates so far), "mean" (m) and "square" (v), param's shape.
    Returns the updated parameter: p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    """
    ### BEGIN SOLUTION
    grad = grad + weight_decay * param if weight_decay else grad
    state["step"] = step = state.get("step", 0) + 1
    # running means of the gradient and of its square
    state["mean"] = beta1 * state.get("mean", np.zeros_like(param)) + (1.0 - beta1) * grad
    state["square"] = beta2 * state.get("square", np.zeros_like(param)) + (1.0 - beta2) * (grad * grad)
    # both means start at zero, so early on they are too small by 1 - beta^t: divide it out (bias correction)
    mean_corrected_step = lr / (1.0 - beta1 ** step)
    root_correction = (1.0 - beta2 ** step) ** 0.5
    return param - mean_corrected_step * (state["mean"] / (np.sqrt(state["square"]) / root_correction + eps))
    ### END SOLUTION
