"""2-D convolution by im2col: gather every receptive field into a column, then one matrix product."""
from minicnn import backend
from minicnn.layers.base import (Layer, check_initializer, initial_weight_and_bias, is_positive_whole_number,
                                 positive_pair, window_slices)
from minicnn.runtime import threads
from minicnn.runtime.layout import channel_rows


def same_padding(size, kernel, stride):
    """(before, after) padding so that the output has ceil(size / stride) positions.

    This is TensorFlow's "same": when the total is odd, the extra pixel goes after.
    """
    output = -(-size // stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2D(Layer):
    """Conv2D(filters, kernel_size, stride=1, padding="valid" | "same" | int, use_bias=True, init=None).

    Params: W (F, C, kh, kw), b (F,). Input (N, C, H, W) -> output (N, F, H_out, W_out),
    H_out = (H + pad_top + pad_bottom - kh) // stride + 1.

        forward:  columns = im2col(pad(x))           (C*kh*kw, H_out*W_out*N)
                  out = W @ columns + b              (F, H_out*W_out*N)
        backward: dW = dout @ columns.T,  db = dout @ ones,  dcolumns = W.T @ dout,  dx = col2im(dcolumns)

    Reference twin: minicnn/reference/conv.py (a loop over the output positions). The tricks:
    - im2col + one matrix product; im2col and col2im loop over the kh*kw kernel offsets,
      each offset one strided copy (or add) of the whole padded input, never over pixels.
    - Batch innermost in memory: the columns and the output are (..., H_out, W_out, N), so
      the product writes the output in the order the next layers read it (no transpose), and
      im2col's copies and col2im's adds run over rows of N values.
    - db as dout @ ones (a matrix-vector product), not dout.sum(axis=1), taken by each thread
      from the same piece of dout as its share of dW, while that piece is in cache.
    - Work buffers (the padded input with its zero border, the columns, dcolumns, the ones)
      reused from batch to batch; no col2im at all for the first layer while training.
    - On the step's threads (minicnn.runtime.threads): im2col and col2im take pieces of the
      input channels, the products pieces of their columns, dW and db pieces of the axis they
      sum over (pixels and batch), added.
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

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size), "stride": self.stride,
                "padding": self.padding, "use_bias": self.use_bias, "init": self.init, "name": self.name}

    def pads_for(self, input_shape):
        """(top, bottom, left, right) zero padding for a per-sample (C, H, W) ``input_shape``."""
        if self.padding == "same":
            return (same_padding(input_shape[1], self.kernel_size[0], self.stride)
                    + same_padding(input_shape[2], self.kernel_size[1], self.stride))
        pad = 0 if self.padding == "valid" else self.padding
        return (pad, pad, pad, pad)

    @property
    def pads(self):
        """(top, bottom, left, right) zero padding of the built layer's input."""
        return self.pads_for(self.input_shape)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D '{self.name}' needs (C, H, W) inputs, got per-sample shape {input_shape}")
        _, height, width = input_shape
        top, bottom, left, right = self.pads_for(input_shape)
        out_h = (height + top + bottom - self.kernel_size[0]) // self.stride + 1
        out_w = (width + left + right - self.kernel_size[1]) // self.stride + 1
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

    def padded_shape(self, batch):
        """(C, H + top + bottom, W + left + right, N): the padded input, channel-major, batch innermost."""
        channels, height, width = self.input_shape
        top, bottom, left, right = self.pads
        return (channels, height + top + bottom, width + left + right, batch)

    def interior(self, padded):
        """The view of a padded (C, H + pads, W + pads, N) array that holds the unpadded image."""
        top, _, left, _ = self.pads
        _, height, width = self.input_shape
        return padded[:, top:top + height, left:left + width]

    def kernel_offsets(self):
        """(i, j, rows, cols) for each kernel offset: the strided slices of the padded input it reads."""
        return window_slices(self.kernel_size, (self.stride, self.stride), self.output_shape[1:])

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, F, H_out, W_out), a view of (F, H_out, W_out, N) memory (batch innermost).

        Caches ``columns`` (C*kh*kw, H_out*W_out*N): row (c, i, j) holds input channel c shifted
        by kernel offset (i, j), so that the convolution is one product W @ columns.
        """
        self.batch_size = self.check_input(x)
        channels = self.input_shape[0]
        _, out_h, out_w = self.output_shape
        padded = self.work_buffers.get("padded", self.padded_shape(self.batch_size), x.dtype)  # border stays 0
        columns = self.work_buffers.get("columns", (channels,) + self.kernel_size + (out_h, out_w, self.batch_size),
                                        x.dtype)
        self.im2col(x.transpose(1, 2, 3, 0), padded, columns)
        self.columns = columns.reshape(channels * self.kernel_size[0] * self.kernel_size[1], -1)
        bias = self.params["b"][:, None] if self.use_bias else None
        out = threads.matmul(self.params["W"].reshape(self.filters, -1), self.columns, add=bias)
        return out.reshape(self.filters, out_h, out_w, self.batch_size).transpose(3, 0, 1, 2)

    def backward(self, dout):
        """dout (N, F, H_out, W_out) -> dx (N, C, H, W) (None if skip_input_gradient); writes grads W and b.

        dx is a view of fresh (C, H, W, N) memory (batch innermost).
        """
        self.check_output_gradient(dout)
        weight = self.params["W"]
        dout_rows = channel_rows(dout)   # (F, H_out*W_out*N), a view when dout is batch-innermost
        ones = self.work_buffers.get("ones", dout_rows.shape[1:], dout.dtype, fill=1)
        dW, db = threads.matmuls(dout_rows, self.columns.T, ones)   # dout @ columns.T, dout @ ones
        self.grads["W"] = dW.reshape(weight.shape)
        if self.use_bias:
            self.grads["b"] = db
        if self.skip_input_gradient:
            return None
        dcolumns = threads.matmul(weight.reshape(self.filters, -1).T, dout_rows,
                                  out=self.work_buffers.get("dcolumns", self.columns.shape, dout.dtype))
        # fresh memory: dx must not be a work buffer that the next backward overwrites
        dpadded = backend.xp.zeros(self.padded_shape(self.batch_size), dtype=dout.dtype)
        self.col2im(dcolumns.reshape(self.input_shape[:1] + self.kernel_size + self.output_shape[1:]
                                     + (self.batch_size,)), dpadded)
        return self.interior(dpadded).transpose(3, 0, 1, 2)

    @threads.in_pieces(axis=0)   # each thread takes whole input channels
    def im2col(self, source, padded, columns):
        """source (C, H, W, N) -> columns (C, kh, kw, H_out, W_out, N): copied into the interior of
        ``padded`` (C, H + pads, W + pads, N), then columns[:, i, j] = the padded input at offset (i, j)."""
        self.interior(padded)[...] = source
        for i, j, rows, cols in self.kernel_offsets():
            columns[:, i, j] = padded[:, rows, cols]

    @threads.in_pieces(axis=0)
    def col2im(self, dcolumns, dpadded):
        """dcolumns (C, kh, kw, H_out, W_out, N) -> dpadded (C, H + pads, W + pads, N), zeros on entry:
        each offset's rows added back onto the input positions they were copied from."""
        for i, j, rows, cols in self.kernel_offsets():
            dpadded[:, rows, cols] += dcolumns[:, i, j]
