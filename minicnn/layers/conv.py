"""2-D convolution by im2col: gather every receptive field into a column, then one matrix product."""
from minicnn import backend
from minicnn.layers.base import (Layer, check_initializer, initial_weight_and_bias, is_positive_whole_number,
                                 positive_pair, window_slices)
from minicnn.layers.winograd import Winograd
from minicnn.runtime import threads
from minicnn.runtime.layout import channel_rows

# im2col's columns are made and used a piece of the output rows at a time, each piece about this large, so
# that they stay in the cache between the copy and the product, and the batch's columns are never all in memory
PIECE_BYTES = 32 << 20
# Conv2D.algorithm "auto": Winograd's F(WINOGRAD_TILE x WINOGRAD_TILE, 3 x 3) for stride-1 3 x 3 convolutions
# with at least WINOGRAD_CHANNELS input channels (with fewer, its products are too thin to pay for its transforms)
# and outputs of at least WINOGRAD_OUTPUT_SIDE on each side (on fewer, the last tiles are mostly past the edge)
WINOGRAD_TILE = 4
WINOGRAD_CHANNELS = 16
WINOGRAD_OUTPUT_SIDE = 8
ALGORITHMS = ("auto", "im2col", "winograd2", "winograd4")


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
    - im2col + matrix products; im2col and col2im loop over the kh*kw kernel offsets,
      each offset one strided copy (or add) of the padded input, never over pixels.
    - In pieces of the output rows: the columns of a few output rows (about PIECE_BYTES) are made,
      multiplied while they are still in the cache, and dropped; the backward makes them again
      from the padded input the forward keeps (copies cost less than keeping kh*kw copies of the
      input in memory). The products read and write the output and dout in place, a block of rows
      each.
    - Batch innermost in memory: the columns and the output are (..., H_out, W_out, N), so
      the product writes the output in the order the next layers read it (no transpose), and
      im2col's copies and col2im's adds run over rows of N values.
    - db as dout @ ones (a matrix-vector product), not dout.sum(axis=1), taken by each thread
      from the same piece of dout as its share of dW, while that piece is in cache.
    - Work buffers (the padded input with its zero border, a piece's columns and dcolumns, the
      ones) reused from batch to batch; no col2im at all for the first layer while training.
    - On the step's threads (minicnn.runtime.threads): im2col and col2im take pieces of the
      input channels, the products pieces of their columns, dW and db pieces of the axis they
      sum over (pixels and batch), added.
    - Winograd's minimal filtering (minicnn/layers/winograd.py) instead of im2col for a stride-1
      3x3 convolution of at least WINOGRAD_CHANNELS input channels (and WINOGRAD_OUTPUT_SIDE) on NumPy: fewer
      multiplications, smaller arrays. ``algorithm`` chooses: "auto" (that rule), "im2col",
      "winograd2" (F(2x2, 3x3)) or "winograd4" (F(4x4, 3x3)), on one layer or on the class.
    """

    algorithm = "auto"

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

    def chosen_winograd(self):
        """The Winograd convolution this call runs (None: im2col), as ``algorithm`` says; "auto" picks
        F(m x m, 3 x 3) for a stride-1 3 x 3 convolution of at least WINOGRAD_CHANNELS input channels and
        an output of at least WINOGRAD_OUTPUT_SIDE on each side, on NumPy (on a GPU, im2col's one large
        product)."""
        choice = self.algorithm
        if choice not in ALGORITHMS:
            raise ValueError(f"Conv2D '{self.name}': algorithm must be one of {ALGORITHMS}, got {choice!r}")
        if choice == "auto":
            fits = (self.kernel_size == (3, 3) and self.stride == 1 and backend.name == "numpy"
                    and self.input_shape[0] >= WINOGRAD_CHANNELS
                    and min(self.output_shape[1:]) >= WINOGRAD_OUTPUT_SIDE)
            choice = f"winograd{WINOGRAD_TILE}" if fits else "im2col"
        if choice == "im2col":
            return None
        if self.kernel_size != (3, 3) or self.stride != 1:
            raise ValueError(f"Conv2D '{self.name}': {choice} needs a 3x3 kernel and stride 1, "
                             f"got {self.kernel_size} and stride {self.stride}")
        return Winograd(self, int(choice[len("winograd"):]))

    def kernel_offsets(self, rows):
        """(i, j, rows, cols) for each kernel offset: the strided slices of the padded input that it reads
        for the output rows ``rows`` (a range) and every output column."""
        for i, j, _, cols in window_slices(self.kernel_size, (self.stride, self.stride), self.output_shape[1:]):
            yield i, j, slice(rows.start * self.stride + i, (rows.stop - 1) * self.stride + i + 1, self.stride), cols

    def row_pieces(self, batch):
        """Ranges of output rows whose columns take about PIECE_BYTES each (at least one row a piece); on a
        GPU one piece, the whole batch's columns (one product: the GPU wants large ones)."""
        channels, out_h, out_w = self.input_shape[0], self.output_shape[1], self.output_shape[2]
        if backend.name != "numpy":
            return [range(out_h)]
        row_bytes = channels * self.kernel_size[0] * self.kernel_size[1] * out_w * batch * self.params["W"].itemsize
        rows_per_piece = max(1, min(out_h, PIECE_BYTES // row_bytes))
        return [range(start, min(start + rows_per_piece, out_h)) for start in range(0, out_h, rows_per_piece)]

    def piece_buffer(self, name, rows, dtype):
        """A (C, kh, kw, len(rows), W_out, N) view of the work buffer ``name``, which every piece reuses."""
        shape = self.input_shape[:1] + self.kernel_size + (self.pieces[0].stop,) + self.output_shape[2:] \
            + (self.batch_size,)
        return self.work_buffers.get(name, shape, dtype)[:, :, :, :len(rows)]

    def columns_for(self, rows, dtype):
        """The im2col columns (C*kh*kw, len(rows)*W_out*N) of the output rows ``rows``, made from the
        padded input that the forward keeps."""
        columns = self.piece_buffer("columns", rows, dtype)
        self.im2col(self.padded, columns, rows)
        return as_matrix(columns)

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, F, H_out, W_out), a view of (F, H_out, W_out, N) memory (batch innermost).

        Caches ``padded``, x with its zero border (C, H + pads, W + pads, N): the backward makes
        the columns again from it, piece by piece.
        """
        self.batch_size = self.check_input(x)
        self.winograd = self.chosen_winograd()
        if self.winograd is not None:
            return self.winograd.forward(x)
        _, out_h, out_w = self.output_shape
        self.padded = self.work_buffers.get("padded", self.padded_shape(self.batch_size), x.dtype)  # border stays 0
        self.pad(x.transpose(1, 2, 3, 0), self.padded)
        self.pieces = self.row_pieces(self.batch_size)
        weight = self.params["W"].reshape(self.filters, -1)
        bias = self.params["b"][:, None] if self.use_bias else None
        out = backend.xp.empty((self.filters, out_h, out_w, self.batch_size), dtype=x.dtype)
        for rows in self.pieces:   # out[:, rows] = W @ columns(rows) + b, written in place
            threads.matmul(weight, self.columns_for(rows, x.dtype), add=bias,
                           out=out[:, rows.start:rows.stop].reshape(self.filters, -1))
        return out.transpose(3, 0, 1, 2)

    def backward(self, dout):
        """dout (N, F, H_out, W_out) -> dx (N, C, H, W) (None if skip_input_gradient); writes grads W and b.

        dx is a view of fresh (C, H, W, N) memory (batch innermost).
        """
        self.check_output_gradient(dout)
        if self.winograd is not None:
            dx, self.grads["W"], db = self.winograd.backward(dout, input_gradient=not self.skip_input_gradient)
            if self.use_bias:
                self.grads["b"] = db
            return dx
        xp, weight = backend.xp, self.params["W"]
        _, out_h, out_w = self.output_shape
        dout_rows = channel_rows(dout).reshape(self.filters, out_h, -1)   # a view when dout is batch-innermost
        dW = xp.zeros((self.filters, weight[0].size), dtype=dout.dtype)
        db = xp.zeros(self.filters, dtype=dout.dtype)
        ones = self.work_buffers.get("ones", (self.pieces[0].stop * out_w * self.batch_size,), dout.dtype, fill=1)
        # fresh memory: dx must not be a work buffer that the next backward overwrites
        dpadded = None if self.skip_input_gradient else xp.zeros(self.padded_shape(self.batch_size), dtype=dout.dtype)
        for rows in self.pieces:
            dout_piece = dout_rows[:, rows.start:rows.stop].reshape(self.filters, -1)
            columns = self.columns_for(rows, dout.dtype)
            dW_piece, db_piece = threads.matmuls(dout_piece, columns.T, ones[:columns.shape[1]])
            dW += dW_piece   # dW = dout @ columns.T, db = dout @ ones, summed over the pieces
            db += db_piece
            if dpadded is not None:
                dcolumns = self.piece_buffer("dcolumns", rows, dout.dtype)
                threads.matmul(weight.reshape(self.filters, -1).T, dout_piece, out=as_matrix(dcolumns))
                self.col2im(dcolumns, dpadded, rows)
        self.grads["W"] = dW.reshape(weight.shape)
        if self.use_bias:
            self.grads["b"] = db
        if dpadded is None:
            return None
        return self.interior(dpadded).transpose(3, 0, 1, 2)

    @threads.in_pieces(axis=0)   # each thread takes whole input channels
    def pad(self, source, padded):
        """source (C, H, W, N) copied into the interior of ``padded`` (C, H + pads, W + pads, N)."""
        self.interior(padded)[...] = source

    @threads.in_pieces(axis=0)
    def im2col(self, padded, columns, rows):
        """padded (C, H + pads, W + pads, N) -> columns (C, kh, kw, len(rows), W_out, N):
        columns[:, i, j] = the padded input at offset (i, j), for the output rows ``rows``."""
        for i, j, input_rows, cols in self.kernel_offsets(rows):
            columns[:, i, j] = padded[:, input_rows, cols]

    @threads.in_pieces(axis=0)
    def col2im(self, dcolumns, dpadded, rows):
        """dcolumns (C, kh, kw, len(rows), W_out, N) added into dpadded (C, H + pads, W + pads, N): each
        offset's rows added back onto the input positions they were copied from."""
        for i, j, input_rows, cols in self.kernel_offsets(rows):
            dpadded[:, input_rows, cols] += dcolumns[:, i, j]


def as_matrix(pieces_columns):
    """The (C*kh*kw, rows*W_out*N) matrix view of (C, kh, kw, rows, W_out, N) columns (a view: its rows may
    be further apart than their length, as BLAS allows)."""
    channels, kernel_h, kernel_w = pieces_columns.shape[:3]
    return pieces_columns.reshape(channels * kernel_h * kernel_w, -1)
