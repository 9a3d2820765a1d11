"""Max and average pooling, floor mode, any window and stride (windows may overlap)."""
from minicnn import backend
from minicnn.layers.base import Layer, positive_pair, window_slices


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
    """

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out). Caches x and the output (the window maxima)."""
        self.check_input(x)
        xp = backend.xp
        out = None
        for rows, cols in self.window_slices():
            out = x[:, :, rows, cols].copy() if out is None else xp.maximum(out, x[:, :, rows, cols], out=out)
        self.x, self.out = x, out
        return out

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dx (N, C, H, W), non-zero only at each window's first maximum.

        Offsets are visited in row-major window order; ``unclaimed`` marks the
        windows whose maximum has not been found yet, so a later tie gets nothing.
        """
        xp = backend.xp
        dx = xp.zeros(self.x.shape, dtype=dout.dtype)
        overlapping = self.step_h < self.pool_size[0] or self.step_w < self.pool_size[1]
        unclaimed = None
        for rows, cols in self.window_slices():
            winner = self.x[:, :, rows, cols] == self.out
            if unclaimed is None:
                unclaimed = ~winner
            else:
                winner &= unclaimed
                unclaimed ^= winner  # winner is a subset of unclaimed: this removes it
            if overlapping:
                dx[:, :, rows, cols] += dout * winner  # a position in several windows sums their shares
            else:
                xp.multiply(dout, winner, out=dx[:, :, rows, cols])  # each position in one window: write in place
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
        xp = backend.xp
        share = dout * (1.0 / (self.pool_size[0] * self.pool_size[1]))
        dx = xp.zeros(self.x_shape, dtype=dout.dtype)
        for rows, cols in self.window_slices():
            dx[:, :, rows, cols] += share
        return dx
