"""2-D convolution by im2col: gather every receptive field into a column, then one GEMM."""

from minicnn import backend
from minicnn.layers.base import (Layer, check_initializer, initial_weight_and_bias, is_positive_whole_number,
                                 positive_pair, window_slices)


def same_padding(size, kernel, stride):
    """(before, after) padding so that the output has ceil(size / stride) positions.

    This is TensorFlow's "same": when the total is odd, the extra pixel goes after.
    """
    output = -(-size // stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2D(Layer):
    """Conv2D(filters, kernel_size, stride=1, padding="valid" | "same" | int, use_bias=True, init=None).

    Params: W (filters, in_channels, kh, kw), b (filters,).
    Input (N, C, H, W) -> output (N, filters, H_out, W_out),
    H_out = (H + pad_top + pad_bottom - kh) // stride + 1.
    """

    def __init__(self, filters, kernel_size, stride=1, padding="valid", use_bias=True, init=None, name=None):
        super().__init__(name)
        if not is_positive_whole_number(filters):
            raise ValueError(f"Conv2D filters must be a whole number >= 1, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = positive_pair(kernel_size, "Conv2D kernel_size")
        self.stride = int(stride)
        if self.stride < 1:
            raise ValueError(f"Conv2D stride must be >= 1, got {stride}")
        if not (padding in ("valid", "same") or (isinstance(padding, int) and padding >= 0)):
            raise ValueError(f"Conv2D padding must be 'valid', 'same' or an int >= 0, got {padding!r}")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.init = check_initializer(init)
        self.scratch = {}

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "stride": self.stride,
                "padding": self.padding, "use_bias": self.use_bias, "init": self.init, "name": self.name}

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}' needs (C, H, W) inputs, got per-sample shape {input_shape}")
        channels, height, width = input_shape
        kernel_h, kernel_w = self.kernel_size
        if self.padding == "same":
            self.pads = same_padding(height, kernel_h, self.stride) + same_padding(width, kernel_w, self.stride)
        else:
            pad = 0 if self.padding == "valid" else self.padding
            self.pads = (pad, pad, pad, pad)
        top, bottom, left, right = self.pads
        out_h = (height + top + bottom - kernel_h) // self.stride + 1
        out_w = (width + left + right - kernel_w) // self.stride + 1
        if out_h < 1 or out_w < 1:
            raise ValueError(f"Conv2D '{self.name}': kernel {self.kernel_size} does not fit input {input_shape} "
                             f"with padding {self.padding!r}")
        return (self.filters, out_h, out_w)

    def create_params(self):
        weight, bias = initial_weight_and_bias((self.filters, self.input_shape[0]) + self.kernel_size,
                                               self.filters, self.init, self.rng)
        self.params["W"] = self.new_param(weight)
        if self.use_bias:
            self.params["b"] = self.new_param(bias)

    def scratch_buffer(self, name, shape, dtype):
        """A work array reused from one batch to the next (fresh allocations cost more than the arithmetic).

        Made with zeros, so the padding border of "padded" stays zero for good.
        """
        xp = backend.xp
        buffer = self.scratch.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype or not isinstance(buffer, xp.ndarray):
            buffer = self.scratch[name] = xp.zeros(shape, dtype=dtype)
        return buffer

    def window_slices(self):
        """window_slices of the kernel over the padded input (see layers.base)."""
        return window_slices(self.kernel_size, (self.stride, self.stride), self.output_shape[1:])

    def padded_interior(self, padded):
        """The view of a padded (C, N, H + pads, W + pads) buffer that holds the unpadded image."""
        top, _, left, _ = self.pads
        _, height, width = self.input_shape
        return padded[:, :, top:top + height, left:left + width]

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, F, H_out, W_out).

        Caches ``columns`` (C*kh*kw, N*H_out*W_out): row (c, i, j) holds input
        channel c shifted by kernel offset (i, j), so the convolution is the
        single product W (F, C*kh*kw) @ columns. The input is first copied,
        channel-major and zero-padded, into (C, N, H+pads, W+pads), so that each
        kernel offset's rows are one strided copy of contiguous planes. Both are
        work buffers that the next forward reuses.
        """
        self.check_input(x)
        xp = backend.xp
        batch = x.shape[0]
        channels, height, width = self.input_shape
        kernel_h, kernel_w = self.kernel_size
        _, out_h, out_w = self.output_shape
        top, bottom, left, right = self.pads
        padded = self.scratch_buffer("padded", (channels, batch, height + top + bottom, width + left + right), x.dtype)
        self.padded_interior(padded)[...] = x.transpose(1, 0, 2, 3)
        columns = self.scratch_buffer("columns", (channels, kernel_h, kernel_w, batch, out_h, out_w), x.dtype)
        for i, j, rows, cols in self.window_slices():
            columns[:, i, j] = padded[:, :, rows, cols]
        self.columns = columns.reshape(channels * kernel_h * kernel_w, batch * out_h * out_w)
        out = self.params["W"].reshape(self.filters, -1) @ self.columns
        if self.use_bias:
            out += self.params["b"][:, None]
        return xp.ascontiguousarray(out.reshape(self.filters, batch, out_h, out_w).transpose(1, 0, 2, 3))

    def backward(self, dout):
        """dout (N, F, H_out, W_out) -> dx (N, C, H, W) (None if skip_input_gradient); writes grads W and b.

        dW = dout @ columns^T; dcolumns = W^T @ dout, then col2im: each kernel
        offset adds its rows back onto the input positions it was copied from
        (a loop over kh*kw offsets, each one a vectorized strided add).
        """
        xp = backend.xp
        batch = dout.shape[0]
        channels, height, width = self.input_shape
        kernel_h, kernel_w = self.kernel_size
        _, out_h, out_w = self.output_shape
        weight = self.params["W"]
        dout_rows = dout.transpose(1, 0, 2, 3).reshape(self.filters, -1)
        self.grads["W"] = (dout_rows @ self.columns.T).reshape(weight.shape)
        if self.use_bias:
            self.grads["b"] = dout_rows.sum(axis=1)
        if self.skip_input_gradient:
            return None
        dcolumns = (weight.reshape(self.filters, -1).T @ dout_rows).reshape(
            channels, kernel_h, kernel_w, batch, out_h, out_w)
        top, bottom, left, right = self.pads
        padded_shape = (channels, batch, height + top + bottom, width + left + right)
        dpadded = self.scratch_buffer("dpadded", padded_shape, dout.dtype)
        dpadded.fill(0)
        for i, j, rows, cols in self.window_slices():
            dpadded[:, :, rows, cols] += dcolumns[:, i, j]
        # a copy even where the transposed view is already contiguous (C or N of 1, no padding): dx must not be
        # the work buffer that the next backward overwrites
        return xp.array(self.padded_interior(dpadded).transpose(1, 0, 2, 3), order="C")
