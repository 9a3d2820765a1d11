"""Naive softmax cross-entropy, the mean over the batch."""
import numpy as np


def softmax_cross_entropy(logits, labels, label_smoothing=0.0):
    """The loss and its gradient in one go.

    Inputs:
    - logits: (N, K) scores.
    - labels: (N,) integer classes in 0..K-1.
    - label_smoothing: s in [0, 1): the target of a sample is (1 - s) * one_hot + s / K.

    Returns (loss, dlogits): loss a Python float, the mean over the N samples; dlogits (N, K), logits' dtype.
    """
    ### BEGIN SOLUTION
    batch, classes = logits.shape
    loss = 0.0
    dlogits = np.zeros_like(logits)
    for n in range(batch):
        # softmax does not change when a constant is subtracted: subtracting the maximum keeps exp from overflowing
        shifted = logits[n] - logits[n].max()
        log_probabilities = shifted - np.log(np.exp(shifted).sum())
        targets = np.full(classes, label_smoothing / classes, dtype=logits.dtype)
        targets[labels[n]] += 1.0 - label_smoothing
        loss += -float((targets * log_probabilities).sum())
        # d(-sum t log p)/dz = p - t, because the targets sum to 1
        dlogits[n] = np.exp(log_probabilities) - targets
    # the loss is a mean over the batch, so every sample's gradient carries 1/N too
    return loss / batch, dlogits * (1.0 / batch)
    ### END SOLUTION
