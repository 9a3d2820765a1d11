"""Max and average pooling, floor mode, any window and stride (windows may overlap)."""
from minicnn import backend
from minicnn.layers.base import Layer, positive_pair, window_slices
from minicnn.runtime import threads
from minicnn.runtime.layout import empty_in_layout


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

    @property
    def step_h(self):
        """The vertical stride: ``stride``, or the window's height."""
        return self.stride or self.pool_size[0]

    @property
    def step_w(self):
        """The horizontal stride: ``stride``, or the window's width."""
        return self.stride or self.pool_size[1]

    def overlapping(self):
        """Whether neighbouring windows share input positions (a stride shorter than the window)."""
        return self.step_h < self.pool_size[0] or self.step_w < self.pool_size[1]

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs (C, H, W) inputs, "
                             f"got per-sample shape {input_shape}")
        channels, height, width = input_shape
        pool_h, pool_w = self.pool_size
        if pool_h > height or pool_w > width:
            raise ValueError(f"{type(self).__name__} '{self.name}': window {self.pool_size} "
                             f"is larger than input {input_shape}")
        return (channels, (height - pool_h) // self.step_h + 1, (width - pool_w) // self.step_w + 1)

    def window_offsets(self):
        """(rows, cols) for each window offset, in row-major window order: the input slices it covers at
        every output position."""
        for _, _, rows, cols in window_slices(self.pool_size, (self.step_h, self.step_w), self.output_shape[1:]):
            yield rows, cols

    @threads.in_pieces(axis=1)   # each thread takes whole channels
    def reduce_windows(self, x, out, *, combine):
        """out (N, C, H_out, W_out) = combine(...combine(window offset 0, offset 1)..., last offset) of x
        (N, C, H, W): one strided pass per window offset, never a loop over windows."""
        for index, (rows, cols) in enumerate(self.window_offsets()):
            if index == 0:
                out[...] = x[:, :, rows, cols]
            else:
                combine(out, x[:, :, rows, cols], out=out)


class MaxPool2D(Pool2D):
    """Max over each window: y = max of x over the window.

    The gradient of a window goes to ONE maximum, the first in row-major
    window order (as PyTorch does). Fashion-MNIST is full of ties (zero
    background), and sending the gradient to every tied maximum multiplies it.
    A window holding a NaN outputs NaN and its gradient goes to that NaN (the
    last NaN in window order, if several, as PyTorch's CPU kernel does), so a
    NaN is never silently dropped from the gradient.

    Reference twin: minicnn/reference/pooling.py (an argmax per window). The tricks:
    - The maxima by ``maximum`` over the window offsets, one strided pass each.
    - The first-maximum masks found for all offsets at once, in the backward, where they
      are used (the forward keeps only x and the maxima).
    - The gradient scattered by multiplying dout with each offset's boolean winner mask,
      written in place, not ``np.add(..., where=mask)``.
    - Output and gradient laid out in memory as the input is (batch innermost after a
      fast convolution); the work split over channels on the step's threads.
    """

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out), laid out in memory as x is. Caches x and the output."""
        self.batch_size = self.check_input(x)
        out = empty_in_layout((x.shape[0],) + self.output_shape, like=x)
        self.reduce_windows(x, out, combine=backend.xp.maximum)
        self.x, self.out = x, out
        return out

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dx (N, C, H, W), non-zero only at each window's first maximum."""
        self.check_output_gradient(dout)
        dx = empty_in_layout(self.x.shape, like=self.x, dtype=dout.dtype)
        # positions that no window reaches (floor mode's leftover rows, or a stride longer than the window)
        uncovered = any((size - pool) % step or step > pool for size, step, pool in
                        zip(self.input_shape[1:], (self.step_h, self.step_w), self.pool_size))
        self.route_to_first_maxima(self.x, self.out, dout, dx, clear=uncovered or self.overlapping(),
                                   add=self.overlapping())
        return dx

    def first_maxima(self, x, out):
        """winners (K, N, C, H_out, W_out), booleans: winners[k] = window offset k holds its window's first
        value equal to ``out`` (the window's maximum), or, in a window whose maximum is NaN, its last NaN."""
        xp = backend.xp
        offsets = list(self.window_offsets())
        winners = empty_in_layout(out.shape, like=out, dtype=bool, outer=(len(offsets),))
        unclaimed = None
        for winner, (rows, cols) in zip(winners, offsets):
            xp.equal(x[:, :, rows, cols], out, out=winner)
            if unclaimed is None:
                unclaimed = ~winner
            else:
                winner &= unclaimed
                unclaimed ^= winner  # winner is a subset of unclaimed: this removes it
        # only a window whose maximum is NaN equals none of its values (on a GPU, looked for without asking)
        if backend.any_or_true_on_device(unclaimed):
            for index in reversed(range(len(offsets))):
                rows, cols = offsets[index]
                nan_here = xp.isnan(x[:, :, rows, cols]) & unclaimed
                winners[index] |= nan_here
                unclaimed ^= nan_here
        return winners

    @threads.in_pieces(axis=1)   # each thread takes whole channels
    def route_to_first_maxima(self, x, out, dout, dx, *, clear, add):
        """dx (N, C, H, W) at each window's first maximum (first_maxima) gets that window's dout
        (N, C, H_out, W_out): written, or added onto dx where ``add`` (overlapping windows, or a gradient
        already there); ``clear`` zeroes dx first (positions no window writes)."""
        if clear:
            dx.fill(0)
        for winner, (rows, cols) in zip(self.first_maxima(x, out), self.window_offsets()):
            if add:
                dx[:, :, rows, cols] += dout * winner   # a position in several windows sums their shares
            else:
                backend.xp.multiply(dout, winner, out=dx[:, :, rows, cols])


class AvgPool2D(Pool2D):
    """Mean over each window; every input in a window gets 1/(ph*pw) of its gradient.

    Reference twin: minicnn/reference/pooling.py. The sums by adding the window offsets,
    one strided pass each (``reduce_windows``), on the step's threads.
    """

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out), laid out in memory as x is. Caches nothing but the batch size."""
        self.batch_size = self.check_input(x)
        out = empty_in_layout((x.shape[0],) + self.output_shape, like=x)
        self.reduce_windows(x, out, combine=backend.xp.add)
        out *= 1.0 / (self.pool_size[0] * self.pool_size[1])
        return out

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dx (N, C, H, W): each window's share added onto every position in it."""
        self.check_output_gradient(dout)
        share = dout * (1.0 / (self.pool_size[0] * self.pool_size[1]))
        dx = backend.xp.zeros((self.batch_size,) + self.input_shape, dtype=dout.dtype)
        for rows, cols in self.window_offsets():
            dx[:, :, rows, cols] += share
        return dx


class GlobalAvgPool2D(Layer):
    """GlobalAvgPool2D(): the mean of each channel over all its positions, (N, C, H, W) -> (N, C).

        y[n, c] = sum over h, w of x[n, c, h, w] / (H W)
        backward: dx[n, c, h, w] = dy[n, c] / (H W)

    No params. What a ResNet ends with before its Dense layer (PyTorch: AdaptiveAvgPool2d(1), then flatten).
    Reference twin: global_avg_pool_forward / global_avg_pool_backward in minicnn/reference/global_pooling.py.
    The tricks: the input read as a (C, H W, N) view (no copy, batch innermost as a fast convolution makes it),
    the means as one product with a ones vector; dx laid out in memory as x was.
    """

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D '{self.name}' needs (C, H, W) inputs, got per-sample shape {input_shape}")
        return input_shape[:1]

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C). Keeps a one-sample view of x for its memory layout."""
        self.batch_size = self.check_input(x)
        self.input_template = x[:1]
        columns = backend.xp.moveaxis(x, 0, -1).reshape(x.shape[1], -1, x.shape[0])   # (C, H W, N)
        ones = self.work_buffers.get("ones", (columns.shape[1],), x.dtype, fill=1)
        return ((ones @ columns) * (1.0 / columns.shape[1])).T

    def backward(self, dout):
        """dout (N, C) -> dx (N, C, H, W): each position gets its channel's dout / (H W)."""
        self.check_output_gradient(dout)
        dx = empty_in_layout((dout.shape[0],) + self.input_shape, like=self.input_template, dtype=dout.dtype)
        backend.xp.multiply(dout[:, :, None, None], 1.0 / (self.input_shape[1] * self.input_shape[2]), out=dx)
        return dx
