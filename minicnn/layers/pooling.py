"""Max and average pooling, floor mode, any window and stride (windows may overlap)."""
from minicnn import backend
from minicnn.runtime import threads
from minicnn.layers.base import Layer, empty_in_layout, positive_pair, window_slices


class Pool2D(Layer):
    """Shared shape logic: window (ph, pw), stride (defaults to the window), no padding.

    Input (N, C, H, W) -> (N, C, (H - ph) // stride + 1, (W - pw) // stride + 1);
    the rows and columns a window never reaches (odd sizes) are dropped, like
    PyTorch's and Keras's default floor mode.
    """

    def __init__(self, pool_size=2, stride=None, name=None):
        super().__init__(name)
        self.pool_size = positive_pair(pool_size, f"{type(self).__name__} pool_size")
        self.stride = int(stride) if stride is not None else None
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"{type(self).__name__} stride must be >= 1 (or None for the window size), got {stride}")

    def config(self):
        return {"pool_size": list(self.pool_size), "stride": self.stride, "name": self.name}

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs (C, H, W) inputs, "
                             f"got per-sample shape {input_shape}")
        channels, height, width = input_shape
        pool_h, pool_w = self.pool_size
        self.step_h = self.stride or pool_h
        self.step_w = self.stride or pool_w
        if pool_h > height or pool_w > width:
            raise ValueError(f"{type(self).__name__} '{self.name}': window {self.pool_size} "
                             f"is larger than input {input_shape}")
        return (channels, (height - pool_h) // self.step_h + 1, (width - pool_w) // self.step_w + 1)

    def window_slices(self):
        """(rows, cols) for each window offset: the input slices it covers at every output position."""
        for _, _, rows, cols in window_slices(self.pool_size, (self.step_h, self.step_w), self.output_shape[1:]):
            yield rows, cols


class MaxPool2D(Pool2D):
    """Max over each window.

    The gradient of a window goes to ONE maximum, the first in row-major
    window order (as PyTorch does). Fashion-MNIST is full of ties (zero
    background), and sending the gradient to every tied maximum multiplies it.
    A window holding a NaN outputs NaN and its gradient goes to that NaN (the
    last NaN in window order, if several, as PyTorch's CPU kernel does), so a
    NaN is never silently dropped from the gradient.

    Reference twin: minicnn/reference/pooling.py (an argmax per window). Tricks,
    measured with ``python benchmarks/techniques.py`` (AMD EPYC, 2 shared cores,
    batch 512, the flagship's first pooling layer):
    - The maxima by ``maximum`` over the window offsets, one strided pass each.
    - The gradient scattered by multiplying dout with each offset's boolean
      winner mask, written in place: 140.8 -> 16.3 ms for one offset against
      ``np.add(..., where=mask)`` (8.6x).
    - The first-maximum masks found once for all offsets, in the backward, by
      the same thread that then routes that channel range's gradient. Finding
      them in the training forward instead was tried and dropped: 188.8 -> 188.6
      ms for forward + backward at batch 512, 16.5 -> 17.5 ms at batch 64.
    - Output and gradient laid out in memory as the input is (batch innermost
      after a fast convolution); the work split over channels on the step's threads.
    """

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out), laid out in memory as x is.

        Caches x and the output (the window maxima).
        """
        self.check_input(x)
        out = empty_in_layout((x.shape[0],) + self.output_shape, like=x)
        offsets = list(self.window_slices())

        def pool_channels(start, stop):
            part = out[:, start:stop]
            for index, (rows, cols) in enumerate(offsets):
                window = x[:, start:stop, rows, cols]
                if index == 0:
                    part[...] = window
                else:
                    backend.xp.maximum(part, window, out=part)

        threads.in_parallel(x.shape[1], pool_channels)
        self.x, self.out = x, out
        return out

    @staticmethod
    def mark_first_maxima(x, out, winners, offsets):
        """winners[k] = offset k holds its window's first maximum (or, in a window with a NaN, the last NaN)."""
        xp = backend.xp
        unclaimed = None
        for index, (rows, cols) in enumerate(offsets):
            winner = winners[index]
            xp.equal(x[:, :, rows, cols], out, out=winner)
            if unclaimed is None:
                unclaimed = ~winner
            else:
                winner &= unclaimed
                unclaimed ^= winner  # winner is a subset of unclaimed: this removes it
        # only a window whose maximum is NaN equals none of its values (on a GPU, looked for without asking)
        if backend.may_be_any(unclaimed):
            for index in reversed(range(len(offsets))):
                rows, cols = offsets[index]
                nan_here = xp.isnan(x[:, :, rows, cols]) & unclaimed
                winners[index] |= nan_here
                unclaimed ^= nan_here

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dx (N, C, H, W), non-zero only at each window's first maximum.

        For each window offset, the positions where it holds its window's first
        maximum (``winners``, booleans, found once for all offsets); then one
        multiply of dout by each offset's winners, written in place where the
        windows do not overlap (added where they do).
        """
        self.check_output_gradient(dout)
        offsets = list(self.window_slices())
        winners = empty_in_layout(self.out.shape, like=self.out, dtype=bool, outer=(len(offsets),))
        dx = empty_in_layout(self.x.shape, like=self.x, dtype=dout.dtype)
        overlapping = self.step_h < self.pool_size[0] or self.step_w < self.pool_size[1]
        # positions that no window reaches (floor mode's leftover rows, or a stride longer than the window)
        uncovered = any((size - pool) % step or step > pool for size, step, pool in
                        zip(self.input_shape[1:], (self.step_h, self.step_w), self.pool_size))

        def route_channels(start, stop):
            part, gradient = dx[:, start:stop], dout[:, start:stop]
            self.mark_first_maxima(self.x[:, start:stop], self.out[:, start:stop], winners[:, :, start:stop],
                                   offsets)
            if uncovered or overlapping:
                part.fill(0)
            for index, (rows, cols) in enumerate(offsets):
                winner = winners[index, :, start:stop]
                if overlapping:
                    part[:, :, rows, cols] += gradient * winner  # a position in several windows sums their shares
                else:
                    backend.xp.multiply(gradient, winner, out=part[:, :, rows, cols])

        threads.in_parallel(dout.shape[1], route_channels)
        return dx


class AvgPool2D(Pool2D):
    """Mean over each window; every input in a window gets 1/(ph*pw) of its gradient."""

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out). Caches only the input shape."""
        self.check_input(x)
        out = None
        for rows, cols in self.window_slices():
            if out is None:
                out = x[:, :, rows, cols].copy()
            else:
                out += x[:, :, rows, cols]
        self.x_shape = x.shape
        out *= 1.0 / (self.pool_size[0] * self.pool_size[1])
        return out

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dx (N, C, H, W)."""
        self.check_output_gradient(dout)
        xp = backend.xp
        share = dout * (1.0 / (self.pool_size[0] * self.pool_size[1]))
        dx = xp.zeros(self.x_shape, dtype=dout.dtype)
        for rows, cols in self.window_slices():
            dx[:, :, rows, cols] += share
        return dx
