"""Softmax cross-entropy: the loss every network here trains with."""
from minicnn import backend


class SoftmaxCrossEntropy:
    """SoftmaxCrossEntropy(label_smoothing=0.0).

    forward(logits (N, K), labels (N,) int) -> mean loss over the batch, a float.
    With smoothing s the target of each sample is (1 - s) * one_hot + s / K.
    Stable for any finite logits: it subtracts each row's maximum before
    exponentiating and works with log-probabilities, never log(softmax).
    Caches the softmax probabilities and the targets for backward, and the
    labels on the device (the training loop counts the correct predictions with them).
    """

    def __init__(self, label_smoothing=0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, labels):
        """The mean loss as a Python float (a copy to the host: on a GPU, a wait for it)."""
        return float(self.forward_array(logits, labels))

    def forward_array(self, logits, labels):
        """forward, with the mean loss left on the logits' backend: a 0-d array (NumPy: a scalar) of their dtype.

        Nothing comes back to the host, so a training step on a GPU need not
        wait for the GPU to finish it (the training loop sums these on the device).
        Labels given as a host array are checked on the host before their one
        copy to the device; labels already on the device are checked there,
        which does wait for the GPU.
        """
        xp = backend.xp
        if logits.ndim != 2:
            raise ValueError(f"SoftmaxCrossEntropy expects logits of shape (N, K), got {tuple(logits.shape)}")
        batch, classes = logits.shape
        if not backend.is_device_array(labels):
            labels = backend.to_numpy(labels)   # a list or a host array: checked here, on the host
        check_labels(labels, batch, classes)
        self.labels = labels = backend.to_device(labels)
        log_probabilities = log_softmax(logits)
        targets = xp.full(logits.shape, self.label_smoothing / classes, dtype=logits.dtype)
        targets[xp.arange(batch), labels] += 1.0 - self.label_smoothing
        self.probabilities = xp.exp(log_probabilities)
        self.targets = targets
        return -(targets * log_probabilities).sum() / batch

    def backward(self):
        """-> dlogits (N, K) = (softmax - targets) / N, in the logits' dtype."""
        return (self.probabilities - self.targets) * (1.0 / self.targets.shape[0])


def check_labels(labels, batch, classes):
    """ValueError unless labels is (batch,) integer class indices in 0..classes - 1."""
    if tuple(labels.shape) != (batch,):
        raise ValueError(f"SoftmaxCrossEntropy expects labels of shape ({batch},), got {tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if batch:
        lowest, highest = (int(value) for value in (labels.min(), labels.max()))
        if lowest < 0 or highest >= classes:
            raise ValueError(f"labels must lie in 0..{classes - 1}, got values from {lowest} to {highest}")


def log_softmax(logits):
    """Row-wise log-softmax of (N, K) logits, stable for any finite values.

    Subtracting the row maximum first keeps every exponent <= 0, so nothing
    overflows, and the largest term of each sum is exactly 1.
    """
    xp = backend.xp
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits):
    """Row-wise softmax of (N, K) logits -> probabilities (N, K)."""
    return backend.xp.exp(log_softmax(logits))
