"""Train/validation splits, mini-batches, and turning uint8 images into network input.

All of it runs on the host (numpy): the training loop moves each batch to
the device with backend.to_device, so the dataset itself never has to fit
in GPU memory and the shuffling is identical on numpy and cupy.
"""
import numpy as np

# Fashion-MNIST's training-set pixel mean and standard deviation on [0, 1].
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


def train_val_split(x, y, val_fraction=0.2, seed=0, stratify=True):
    """Split a dataset into training and validation parts, reproducibly.

    Inputs:
    - x: array of shape (N, ...), the samples.
    - y: integer array of shape (N,), the class labels.
    - val_fraction: float in (0, 1); exactly round(val_fraction * N) samples
      go to validation (12,000 of 60,000 for 0.2).
    - seed: int or numpy Generator, which samples are picked.
    - stratify: bool; if True each class gets its share of the validation
      set, within one sample of count_c * val_fraction.

    Returns ((x_train, y_train), (x_val, y_val)), copies of the selected
    rows in their original order.
    """
    x, y = np.asarray(x), np.asarray(y)
    num_samples = len(y)
    if len(x) != num_samples:
        raise ValueError(f"x has {len(x)} samples but y has {num_samples}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    num_val = round(val_fraction * num_samples)
    if not 0 < num_val < num_samples:
        raise ValueError(
            f"val_fraction={val_fraction} of {num_samples} samples leaves "
            f"{num_val} for validation and {num_samples - num_val} for training; both must be > 0"
        )
    rng = np.random.default_rng(seed)
    if stratify:
        val_indices = _stratified_pick(y, num_val, rng)
    else:
        val_indices = rng.permutation(num_samples)[:num_val]
    is_val = np.zeros(num_samples, dtype=bool)
    is_val[val_indices] = True
    return (x[~is_val], y[~is_val]), (x[is_val], y[is_val])


def _stratified_pick(y, num_val, rng):
    """Indices of `num_val` samples, each class c contributing floor or ceil
    of count_c * num_val / N (largest remainders get the ceilings)."""
    classes, class_of_sample, counts = np.unique(y, return_inverse=True, return_counts=True)
    # Integer arithmetic, so 60000 * 0.2 never becomes 11999.999...
    quotas, remainders = np.divmod(counts * num_val, len(y))
    shortfall = num_val - quotas.sum()
    quotas[np.argsort(-remainders, kind="stable")[:shortfall]] += 1
    picked = []
    for class_index, quota in enumerate(quotas):
        members = np.flatnonzero(class_of_sample == class_index)
        picked.append(rng.permutation(members)[:quota])
    return np.concatenate(picked)


def iterate_batches(x, y, batch_size, shuffle=True, rng=None, drop_last=False):
    """Yield mini-batches (x_batch, y_batch) covering the dataset once.

    Inputs:
    - x: array of shape (N, ...); y: array of shape (N,).
    - batch_size: int > 0.
    - shuffle: bool; visit the samples in a random order.
    - rng: numpy Generator, int seed, or None (fresh entropy) for the order.
    - drop_last: bool; skip a final batch smaller than batch_size.

    Yields (x_batch, y_batch), host arrays of shapes (B, ...) and (B,), with
    B = batch_size except perhaps for the last batch.
    """
    num_samples = len(x)
    if len(y) != num_samples:
        raise ValueError(f"x has {num_samples} samples but y has {len(y)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = np.random.default_rng(rng).permutation(num_samples) if shuffle else None
    stop = num_samples - num_samples % batch_size if drop_last else num_samples
    for start in range(0, stop, batch_size):
        if order is None:
            yield x[start:start + batch_size], y[start:start + batch_size]
        else:
            indices = order[start:start + batch_size]
            yield x[indices], y[indices]


def prepare_images(x_uint8, dtype="float32", standardize=False,
                   mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD):
    """Turn uint8 images into network input.

    Inputs:
    - x_uint8: uint8 array of shape (N, H, W) or (N, C, H, W), values 0..255.
    - dtype: the float dtype to return ("float32" or "float64").
    - standardize: bool; if True return (x / 255 - mean) / std, otherwise x / 255.
    - mean, std: Python floats, the statistics used by standardize (the
      defaults are Fashion-MNIST's training set; MNIST's are 0.1307, 0.3081).

    Returns a host array of shape (N, C, H, W) (C = 1 for 3-D input) and the
    given dtype, in [0, 1] unless standardized.
    """
    x = np.asarray(x_uint8)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W) or (N, C, H, W), got {x.shape}")
    images = x.astype(dtype)
    # In place with Python floats, so a float32 result stays float32.
    images /= 255.0
    if standardize:
        images -= float(mean)
        images /= float(std)
    return images
