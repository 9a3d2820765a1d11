"""Data augmentation for whole batches, on the active backend.

Every function takes images x of shape (N, C, H, W) (a float array of
backend.xp) and a numpy Generator `rng`, and returns a new array of the same
shape and dtype. The random numbers are drawn on the host and copied to the
device, so a numpy run and a cupy run with the same seed see the same flips,
angles and crops. Nothing loops over samples: each transform is a handful of
whole-batch array operations.

Rotation, zoom, shift and pad-and-crop share one implementation,
`affine_transform`: every output pixel computes where it comes from in the
input and gathers that value (nearest or bilinear). Points that come from
outside the image are filled with 0. (Keras's default fill_mode is
'nearest', which smears the border outwards; Fashion-MNIST's background is
0, so a constant 0 is both simpler and closer to the data.)
"""
import numpy as np

from minicnn import backend

INTERPOLATIONS = ("nearest", "bilinear")


def _check_images(x):
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError(
            f"augmentation expects float images of shape (N, C, H, W), got {x.dtype} of "
            f"shape {x.shape}; scale uint8 images with minicnn.data.prepare_images first"
        )


def _per_sample(values, num_samples):
    """`values` (a scalar or shape (N,)) as a float64 host array of shape (N,)."""
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (num_samples,))


def affine_transform(x, rotation_degrees=0.0, zoom_rows=1.0, zoom_cols=1.0,
                     shift_rows=0.0, shift_cols=0.0, interpolation="bilinear"):
    """Rotate and zoom each image about its centre, then shift it.

    Inputs:
    - x: float array (N, C, H, W) of backend.xp.
    - rotation_degrees: scalar or host array (N,); positive turns the
      picture counter-clockwise as displayed (row 0 at the top), like np.rot90.
    - zoom_rows, zoom_cols: scalars or host arrays (N,), Keras's convention:
      output point p shows input point centre + zoom * (p - centre), so a zoom
      above 1 shrinks the content and below 1 enlarges it.
    - shift_rows, shift_cols: scalars or host arrays (N,), in pixels;
      positive moves the content down / right.
    - interpolation: "nearest" or "bilinear".

    Returns an array like x: same shape, dtype and backend.
    """
    _check_images(x)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    xp = backend.xp
    num_samples, _, height, width = x.shape
    angle = np.deg2rad(_per_sample(rotation_degrees, num_samples))
    cos, sin = np.cos(angle), np.sin(angle)
    zoom_r, zoom_c = _per_sample(zoom_rows, num_samples), _per_sample(zoom_cols, num_samples)
    # Output -> input map: undo the rotation (rotate by -angle), then zoom.
    host_params = np.stack([cos * zoom_r, sin * zoom_c, -sin * zoom_r, cos * zoom_c,
                            _per_sample(shift_rows, num_samples),
                            _per_sample(shift_cols, num_samples)])
    row_row, row_col, col_row, col_col, shift_r, shift_c = (
        backend.to_device(host_params, dtype=x.dtype).reshape(6, num_samples, 1, 1))

    center_row, center_col = (height - 1) / 2, (width - 1) / 2
    rows = xp.arange(height, dtype=x.dtype).reshape(1, height, 1) - center_row - shift_r  # (N, H, 1)
    cols = xp.arange(width, dtype=x.dtype).reshape(1, 1, width) - center_col - shift_c    # (N, 1, W)
    source_rows = center_row + row_row * rows + row_col * cols                            # (N, H, W)
    source_cols = center_col + col_row * rows + col_col * cols
    return _sample(x, source_rows, source_cols, interpolation)


def _sample(x, source_rows, source_cols, interpolation):
    """out[n, c, i, j] = x[n, c] read at (source_rows[n, i, j], source_cols[n, i, j]),
    0 outside the image. source_* are float arrays (N, H, W) of x's dtype."""
    xp = backend.xp
    num_samples, channels, height, width = x.shape
    if interpolation == "nearest":
        corners = [(xp.floor(source_rows + 0.5), xp.floor(source_cols + 0.5), None)]
    else:
        top, left = xp.floor(source_rows), xp.floor(source_cols)
        # Fractional parts: how far the point sits towards the lower / right neighbour.
        down, right = source_rows - top, source_cols - left
        corners = [(top, left, (1 - down) * (1 - right)), (top, left + 1, (1 - down) * right),
                   (top + 1, left, down * (1 - right)), (top + 1, left + 1, down * right)]

    flat_images = x.reshape(num_samples, channels, height * width)
    out = xp.zeros_like(x)
    for rows, cols, weight in corners:
        inside = (rows >= 0) & (rows <= height - 1) & (cols >= 0) & (cols <= width - 1)
        # Clipping keeps the gather in bounds; `inside` then zeroes those reads.
        flat_index = (xp.clip(rows, 0, height - 1) * width + xp.clip(cols, 0, width - 1)).astype(xp.int64)
        flat_index = xp.broadcast_to(flat_index.reshape(num_samples, 1, height * width),
                                     flat_images.shape)
        values = xp.take_along_axis(flat_images, flat_index, axis=2).reshape(x.shape)
        weight = inside.astype(x.dtype) if weight is None else weight * inside
        out += values * weight[:, None]
    return out


def _zoom_bounds(zoom_range):
    """Keras's zoom_range: a float z means [1 - z, 1 + z]; a pair is [lower, upper]."""
    if isinstance(zoom_range, (tuple, list)):
        lower, upper = (float(bound) for bound in zoom_range)
    else:
        lower, upper = 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    if not 0.0 < lower <= upper:
        raise ValueError(f"zoom_range {zoom_range!r} must give 0 < lower <= upper, got [{lower}, {upper}]")
    return lower, upper


def _shift_pixels(shift_range, size):
    """Keras's shift ranges: below 1 a fraction of the image size, else pixels."""
    return float(shift_range) * size if shift_range < 1 else float(shift_range)


def random_affine(x, rng, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                  zoom_range=0.0, interpolation="bilinear"):
    """Random rotation, shift and zoom, each sample its own (Keras's
    ImageDataGenerator ranges).

    Inputs:
    - x: float array (N, C, H, W) of backend.xp; rng: numpy Generator.
    - rotation_range: degrees; the angle is uniform in [-range, range].
    - width_shift_range, height_shift_range: a fraction of the width / height
      if below 1, else pixels; each shift is uniform in [-range, range].
    - zoom_range: float z (zoom uniform in [1 - z, 1 + z], rows and columns
      drawn separately) or a pair [lower, upper].
    - interpolation: "nearest" or "bilinear".

    Returns an array like x.
    """
    _check_images(x)
    num_samples, _, height, width = x.shape
    zoom_lower, zoom_upper = _zoom_bounds(zoom_range)
    rotation = rng.uniform(-rotation_range, rotation_range, num_samples)
    zoom_rows = rng.uniform(zoom_lower, zoom_upper, num_samples)
    zoom_cols = rng.uniform(zoom_lower, zoom_upper, num_samples)
    shift_rows = rng.uniform(-1.0, 1.0, num_samples) * _shift_pixels(height_shift_range, height)
    shift_cols = rng.uniform(-1.0, 1.0, num_samples) * _shift_pixels(width_shift_range, width)
    return affine_transform(x, rotation, zoom_rows, zoom_cols, shift_rows, shift_cols, interpolation)


def pad_crop(x, rng, padding):
    """Pad each image with `padding` zero pixels on every side, then crop a
    random H x W window: the same as shifting it by a whole number of pixels
    in [-padding, padding] per axis with zero fill, which is how it is done.

    Inputs: x float array (N, C, H, W) of backend.xp; rng numpy Generator;
    padding int >= 0. Returns an array like x.
    """
    shifts = rng.integers(-padding, padding + 1, size=(2, len(x)))
    return affine_transform(x, shift_rows=shifts[0], shift_cols=shifts[1], interpolation="nearest")


def horizontal_flip(x, rng, p=0.5):
    """Mirror each image left-right with probability p.

    Inputs: x float array (N, C, H, W) of backend.xp; rng numpy Generator;
    p float. Returns an array like x.
    """
    _check_images(x)
    flip = backend.to_device(rng.random(len(x)) < p).reshape(-1, 1, 1, 1)
    return backend.xp.where(flip, x[..., ::-1], x)


def random_erasing(x, rng, p=0.5, area_range=(0.02, 0.4), aspect_range=(0.3, 1 / 0.3),
                   value=0.0, attempts=10):
    """Random erasing (Zhong et al., 2017): with probability p, fill one
    random rectangle of each image.

    The rectangle's area is uniform in area_range (a fraction of H * W), its
    height/width ratio uniform in aspect_range; its size is rounded to whole
    pixels and must be smaller than the image, else another draw is tried
    (up to `attempts`; if none fits, the image is left alone).

    Inputs:
    - x: float array (N, C, H, W) of backend.xp; rng: numpy Generator.
    - p: float, probability of erasing each image.
    - area_range, aspect_range: pairs of floats.
    - value: a float to fill with, or "random" for uniform noise in [0, 1)
      per pixel and channel (the paper's choice, on images scaled to [0, 1]).
    - attempts: int, tries per image to draw a rectangle that fits.

    Returns an array like x.
    """
    _check_images(x)
    xp = backend.xp
    num_samples, _, height, width = x.shape
    erase = rng.random(num_samples) < p
    area = rng.uniform(*area_range, (num_samples, attempts)) * (height * width)
    aspect = rng.uniform(*aspect_range, (num_samples, attempts))
    box_heights = np.rint(np.sqrt(area * aspect)).astype(np.int64)
    box_widths = np.rint(np.sqrt(area / aspect)).astype(np.int64)
    fits = (box_heights < height) & (box_widths < width)
    first_fit = fits.argmax(axis=1)
    erase &= fits.any(axis=1)
    samples = np.arange(num_samples)
    box_height = np.where(erase, box_heights[samples, first_fit], 0)
    box_width = np.where(erase, box_widths[samples, first_fit], 0)
    top = rng.integers(0, height - box_height + 1)
    left = rng.integers(0, width - box_width + 1)

    # Box edges as (N, 1, 1) device arrays, compared with every pixel's row and column.
    box_edges = np.stack([top, top + box_height, left, left + box_width])
    top, bottom, left, right = backend.to_device(box_edges).reshape(4, num_samples, 1, 1)
    rows = xp.arange(height).reshape(1, height, 1)
    cols = xp.arange(width).reshape(1, 1, width)
    in_box = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)  # (N, H, W)
    if value == "random":
        fill = backend.to_device(rng.random(x.shape), dtype=x.dtype)
    else:
        fill = xp.asarray(float(value), dtype=x.dtype)
    return xp.where(in_box[:, None], fill, x)


class Augmenter:
    """A configured augmentation pipeline, applied per batch during training.

    The steps, in order (each only if enabled): random rotation / shift /
    zoom (one affine transform), pad-and-crop, horizontal flip, random
    erasing. Ranges follow Keras's ImageDataGenerator; see random_affine,
    pad_crop, horizontal_flip and random_erasing for their meaning.

    Inputs (constructor):
    - rotation_range: degrees. width_shift_range, height_shift_range: fraction
      (below 1) or pixels. zoom_range: float or [lower, upper].
    - horizontal_flip: bool, flip half the images.
    - pad_crop: int, padding in pixels for pad-and-crop (0 = off).
    - random_erasing: float, the probability of erasing (0 = off).
    - seed: seeds the Generator used when __call__ is given no rng.
    - interpolation: "bilinear" (Keras's default) or "nearest".
    - erasing_area, erasing_aspect, erasing_value: random erasing's settings.
    """

    def __init__(self, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0,
                 zoom_range=0.0, horizontal_flip=False, pad_crop=0, random_erasing=0.0,
                 seed=None, interpolation="bilinear", erasing_area=(0.02, 0.4),
                 erasing_aspect=(0.3, 1 / 0.3), erasing_value=0.0):
        for setting, value in (("rotation_range", rotation_range), ("width_shift_range", width_shift_range),
                               ("height_shift_range", height_shift_range), ("pad_crop", pad_crop)):
            if value < 0:
                raise ValueError(f"{setting} must be >= 0, got {value}")
        if not 0.0 <= random_erasing <= 1.0:
            raise ValueError(f"random_erasing is a probability in [0, 1], got {random_erasing}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        if erasing_value != "random" and not isinstance(erasing_value, (int, float)):
            raise ValueError(f"erasing_value must be a number or 'random', got {erasing_value!r}")
        self.rotation_range = float(rotation_range)
        self.width_shift_range = float(width_shift_range)
        self.height_shift_range = float(height_shift_range)
        self.zoom_range = list(zoom_range) if isinstance(zoom_range, (tuple, list)) else float(zoom_range)
        self.zoom_bounds = _zoom_bounds(zoom_range)
        self.horizontal_flip = bool(horizontal_flip)
        self.pad_crop = int(pad_crop)
        self.random_erasing = float(random_erasing)
        self.seed = seed
        self.interpolation = interpolation
        self.erasing_area = [float(bound) for bound in erasing_area]
        self.erasing_aspect = [float(bound) for bound in erasing_aspect]
        self.erasing_value = erasing_value
        self.rng = np.random.default_rng(seed)

    def __call__(self, x_batch, rng=None):
        """Augment one batch.

        Inputs:
        - x_batch: float array (N, C, H, W) of backend.xp.
        - rng: numpy Generator; defaults to the augmenter's own (from seed).

        Returns an array like x_batch (x_batch itself if nothing is enabled).
        """
        _check_images(x_batch)
        rng = self.rng if rng is None else rng
        x = x_batch
        if (self.rotation_range or self.width_shift_range or self.height_shift_range
                or self.zoom_bounds != (1.0, 1.0)):
            x = random_affine(x, rng, self.rotation_range, self.width_shift_range,
                              self.height_shift_range, self.zoom_range, self.interpolation)
        if self.pad_crop:
            x = pad_crop(x, rng, self.pad_crop)
        if self.horizontal_flip:
            x = horizontal_flip(x, rng)
        if self.random_erasing:
            x = random_erasing(x, rng, self.random_erasing, self.erasing_area,
                               self.erasing_aspect, self.erasing_value)
        return x

    def config(self):
        """The settings as a JSON-ready dict; Augmenter(**config()) rebuilds it."""
        return {
            "rotation_range": self.rotation_range,
            "width_shift_range": self.width_shift_range,
            "height_shift_range": self.height_shift_range,
            "zoom_range": self.zoom_range,
            "horizontal_flip": self.horizontal_flip,
            "pad_crop": self.pad_crop,
            "random_erasing": self.random_erasing,
            "seed": self.seed,
            "interpolation": self.interpolation,
            "erasing_area": self.erasing_area,
            "erasing_aspect": self.erasing_aspect,
            "erasing_value": self.erasing_value,
        }

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"Augmenter({settings})"
