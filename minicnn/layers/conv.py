"""2-D convolution by im2col: gather every receptive field into a column, then one GEMM."""

from minicnn import backend
from minicnn.runtime import threads
from minicnn.layers.base import (Layer, channel_rows, check_initializer, initial_weight_and_bias,
                                 is_positive_whole_number, positive_pair, window_slices)


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

    Reference twin: minicnn/reference/conv.py (a loop over the output positions). The
    tricks here, each measured with ``python benchmarks/techniques.py`` (AMD EPYC,
    2 cores shared with other work, batch 512, conv2d_1 of the flagship):
    - im2col + one GEMM, col2im as a loop over the kh*kw kernel offsets.
    - Batch innermost in memory: the output is an (N, F, H_out, W_out) view of
      (F, H_out, W_out, N) memory, which is exactly what the GEMM writes, so no
      transpose is left; im2col's copies and col2im's adds run over rows of N
      values instead of rows of W: im2col 48.3 -> 34.7 ms (1.39x), col2im
      109.6 -> 41.0 ms (2.67x).
    - Threads (minicnn.threads): im2col and col2im split over input channels
      (over kernel offsets for a one-channel input), every matrix product split
      over its columns, written with out= into one buffer; dW and db are summed
      from the pieces' partial products. With BLAS at one thread this took the
      flagship's step 3.0x faster than BLAS's own two threads (see threads).
    - db as dout @ ones (a matrix-vector product), not dout.sum(axis=1).
    - Work buffers (the padded input, the columns, dcolumns) reused between
      batches; no col2im at all for the first layer while training.
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
        self.offsets = list(window_slices(self.kernel_size, (self.stride, self.stride), (out_h, out_w)))
        return (self.filters, out_h, out_w)

    def create_params(self):
        weight, bias = initial_weight_and_bias((self.filters, self.input_shape[0]) + self.kernel_size,
                                               self.filters, self.init, self.rng)
        self.params["W"] = self.new_param(weight)
        if self.use_bias:
            self.params["b"] = self.new_param(bias)

    def scratch_buffer(self, name, shape, dtype, fill=0):
        """A work array reused from one batch to the next (fresh allocations cost more than the arithmetic).

        Made filled with ``fill`` (zeros: the padding border of "padded" stays zero for good).
        """
        xp = backend.xp
        buffer = self.scratch.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype or not isinstance(buffer, xp.ndarray):
            buffer = self.scratch[name] = xp.full(shape, fill, dtype=dtype)
        return buffer

    def padded_interior(self, padded):
        """The view of a padded (C, H + pads, W + pads, N) buffer that holds the unpadded image."""
        top, _, left, _ = self.pads
        _, height, width = self.input_shape
        return padded[:, top:top + height, left:left + width]

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, F, H_out, W_out), a view of (F, H_out, W_out, N) memory (batch innermost).

        Caches ``columns`` (C*kh*kw, H_out*W_out*N): row (c, i, j) holds input
        channel c shifted by kernel offset (i, j), so the convolution is the
        single product W (F, C*kh*kw) @ columns. The input is first copied,
        zero-padded, into (C, H+pads, W+pads, N), and each kernel offset's rows
        are one strided copy of it. Both are work buffers the next forward reuses.
        """
        self.check_input(x)
        xp = backend.xp
        batch = x.shape[0]
        channels, height, width = self.input_shape
        kernel_h, kernel_w = self.kernel_size
        _, out_h, out_w = self.output_shape
        top, bottom, left, right = self.pads
        padded = self.scratch_buffer("padded", (channels, height + top + bottom, width + left + right, batch), x.dtype)
        columns = self.scratch_buffer("columns", (channels, kernel_h, kernel_w, out_h, out_w, batch), x.dtype)
        interior, source = self.padded_interior(padded), x.transpose(1, 2, 3, 0)

        def im2col_channels(start, stop):
            interior[start:stop] = source[start:stop]
            for i, j, rows, cols in self.offsets:
                columns[start:stop, i, j] = padded[start:stop, rows, cols]

        def im2col_offsets(start, stop):
            for i, j, rows, cols in self.offsets[start:stop]:
                columns[:, i, j] = padded[:, rows, cols]

        if channels >= threads.active_threads():
            threads.in_parallel(channels, im2col_channels)
        else:  # one input channel (the first convolution): the threads take kernel offsets instead
            interior[...] = source
            threads.in_parallel(len(self.offsets), im2col_offsets)
        self.columns = columns.reshape(channels * kernel_h * kernel_w, -1)
        out = xp.empty((self.filters, out_h, out_w, batch), dtype=x.dtype)
        out_rows, weight_rows = out.reshape(self.filters, -1), self.params["W"].reshape(self.filters, -1)

        def product(start, stop):
            xp.matmul(weight_rows, self.columns[:, start:stop], out=out_rows[:, start:stop])
            if self.use_bias:
                out_rows[:, start:stop] += self.params["b"][:, None]

        threads.in_parallel(out_rows.shape[1], product, minimum=threads.fewest_worth_a_thread(weight_rows.size))
        return out.transpose(3, 0, 1, 2)

    def backward(self, dout):
        """dout (N, F, H_out, W_out) -> dx (N, C, H, W) (None if skip_input_gradient); writes grads W and b.

        dW = dout @ columns^T; db = dout @ ones; dcolumns = W^T @ dout, then col2im:
        each kernel offset adds its rows back onto the input positions it was copied
        from (a loop over kh*kw offsets, each one a vectorized strided add).
        dx is a view of fresh (C, H, W, N) memory (batch innermost).
        """
        self.check_output_gradient(dout)
        xp = backend.xp
        batch = dout.shape[0]
        channels, height, width = self.input_shape
        kernel_h, kernel_w = self.kernel_size
        _, out_h, out_w = self.output_shape
        weight = self.params["W"]
        dout_rows = channel_rows(dout)   # (F, H_out*W_out*N), a view when dout is batch-innermost
        ones = self.scratch_buffer("ones", (dout_rows.shape[1],), dout.dtype, fill=1)

        def parameter_gradients(start, stop):
            rows = dout_rows[:, start:stop]
            return rows @ self.columns[:, start:stop].T, rows @ ones[start:stop]

        partial_sums = threads.in_parallel(dout_rows.shape[1], parameter_gradients,
                                           minimum=threads.fewest_worth_a_thread(weight.size))
        self.grads["W"] = sum(part[0] for part in partial_sums).reshape(weight.shape)
        if self.use_bias:
            self.grads["b"] = sum(part[1] for part in partial_sums)
        if self.skip_input_gradient:
            return None
        dcolumns = self.scratch_buffer("dcolumns", self.columns.shape, dout.dtype)
        weight_columns = weight.reshape(self.filters, -1).T

        def input_columns(start, stop):
            xp.matmul(weight_columns, dout_rows[:, start:stop], out=dcolumns[:, start:stop])

        threads.in_parallel(dout_rows.shape[1], input_columns, minimum=threads.fewest_worth_a_thread(weight.size))
        dcolumns = dcolumns.reshape(channels, kernel_h, kernel_w, out_h, out_w, batch)
        top, bottom, left, right = self.pads
        # fresh memory: dx must not be a work buffer that the next backward overwrites
        dpadded = xp.zeros((channels, height + top + bottom, width + left + right, batch), dtype=dout.dtype)

        def col2im(start, stop):
            for i, j, rows, cols in self.offsets:
                dpadded[start:stop, rows, cols] += dcolumns[start:stop, i, j]

        threads.in_parallel(channels, col2im)
        return self.padded_interior(dpadded).transpose(3, 0, 1, 2)
