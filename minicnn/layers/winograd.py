"""Winograd's minimal filtering for a stride-1 3x3 convolution (Lavin & Gray 2015), the way Conv2D runs one.

The padded input is cut into overlapping tiles of t x t values (t = m + 2), one tile for each m x m block
of outputs. With three small matrices B^T (t, t), G (t, 3) and A^T (m, t):

    forward:  V = B^T d B        each input tile d                           (t, t, C, tiles*N)
              U = G w G^T        each filter w                               (t, t, F, C)
              M = U @ V          t*t matrix products, one per tile position  (t, t, F, tiles*N)
              y = A^T M A        each output block, + b
    backward: dM = A dy A^T                  (the output transform, transposed)
              dU = dM @ V.T,   dW = G^T dU G  (the filter transform, transposed)
              dV = U.T @ dM,   dd = B dV B^T  (the input transform, transposed), the overlapping
                                              tiles added back onto the padded input

Every step is linear, so the backward is the forward's transforms transposed, in reverse order.
F(2x2, 3x3) (m = 2) does 16 multiplications per 4 outputs where im2col does 36, F(4x4, 3x3) (m = 4) 36
per 16 where im2col does 144; the transforms are products with small fixed matrices.
Reference twin: minicnn/reference/winograd.py (the same formulas, a loop over the tiles). The tricks:
- Each transform of a whole batch as one matrix product: B^T d B for every tile is
  kron(B^T, B^T) (t*t, t*t) @ the tiles (t*t, C*tiles*N), A^T M A likewise with kron(A^T, A^T).
  The tiles are gathered from the padded input by t*t strided copies (one per position in the
  tile, as im2col's kernel offsets), the output blocks put in place by m*m (with the bias added
  on the way); the backward's transposes add the tiles back, as col2im does.
- Batch innermost, as in Conv2D: a tile's values for the N images lie together, so every
  strided copy runs over rows of N values.
- On the step's threads: the products as threads.matmul (pieces of their columns), the t*t
  products between the transforms split by tile position, the copies by channels.
- Work buffers reused from batch to batch: the gathered tiles, V (kept for the backward), M
  and the output blocks; the backward writes dM over M, dV over V and B dV B^T over the
  tiles, each no longer needed by then.
"""
import numpy as np

from minicnn import backend
from minicnn.runtime import threads
from minicnn.runtime.layout import channel_rows

# B^T, G, A^T of F(m x m, 3 x 3) for m = 2 and m = 4, as Lavin & Gray give them
MATRICES = {
    2: (np.array([[1, 0, -1, 0],
                  [0, 1, 1, 0],
                  [0, -1, 1, 0],
                  [0, 1, 0, -1]], dtype=np.float64),
        np.array([[1, 0, 0],
                  [1 / 2, 1 / 2, 1 / 2],
                  [1 / 2, -1 / 2, 1 / 2],
                  [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 0],
                  [0, 1, -1, -1]], dtype=np.float64)),
    4: (np.array([[4, 0, -5, 0, 1, 0],
                  [0, -4, -4, 1, 1, 0],
                  [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0],
                  [0, 2, -1, -2, 1, 0],
                  [0, 4, 0, -5, 0, 1]], dtype=np.float64),
        np.array([[1 / 4, 0, 0],
                  [-1 / 6, -1 / 6, -1 / 6],
                  [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6],
                  [1 / 24, -1 / 12, 1 / 6],
                  [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 1, 1, 0],
                  [0, 1, -1, 2, -2, 0],
                  [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], dtype=np.float64)),
}


class Winograd:
    """The F(m x m, 3 x 3) convolution of a built Conv2D (stride 1, 3 x 3 kernel); its arrays are the
    layer's work buffers. See the module's text for the formulas."""

    def __init__(self, layer, m):
        self.layer, self.m, self.t = layer, m, m + 2
        transposed_input, self.filter_matrix, transposed_output = MATRICES[m]
        self.input_matrix = np.kron(transposed_input, transposed_input)      # (t*t, t*t): d -> B^T d B
        self.output_matrix = np.kron(transposed_output, transposed_output)   # (m*m, t*t): M -> A^T M A
        _, out_h, out_w = layer.output_shape
        self.tiles = (-(-out_h // m), -(-out_w // m))   # the last row and column of tiles may reach past the output

    def padded_shape(self, batch):
        """(C, m * tiles_h + 2, m * tiles_w + 2, N): the layer's padding, and zeros below and to the right
        for the tiles that reach past the output."""
        tiles_h, tiles_w = self.tiles
        return (self.layer.input_shape[0], self.m * tiles_h + 2, self.m * tiles_w + 2, batch)

    def buffer(self, name, positions, channels, dtype):
        """The work buffer ``name``: (positions, positions, channels, tiles_h, tiles_w, N)."""
        return self.layer.work_buffers.get(name, (positions, positions, channels) + self.tiles
                                           + (self.layer.batch_size,), dtype)

    def forward(self, x):
        """x (N, C, H, W) -> (N, F, H_out, W_out), a view of (F, H_out, W_out, N) memory.

        Caches U (t, t, F, C) and V (t, t, C, tiles_h, tiles_w, N)."""
        layer, xp, t, m, dtype = self.layer, backend.xp, self.t, self.m, x.dtype
        channels, filters = layer.input_shape[0], layer.filters
        padded = layer.work_buffers.get("winograd padded", self.padded_shape(x.shape[0]), dtype)   # zeros stay
        tiles = self.buffer("tiles", t, channels, dtype)
        self.gather_tiles(x.transpose(1, 2, 3, 0), padded, channel_first(tiles))
        self.V = self.buffer("V", t, channels, dtype)
        threads.matmul(self.matrix(self.input_matrix, dtype), tiles.reshape(t * t, -1), out=self.V.reshape(t * t, -1))
        self.U = self.filter_transform(layer.params["W"])
        M = self.buffer("M", t, filters, dtype)
        self.products(self.U.reshape(t * t, filters, channels), self.V.reshape(t * t, channels, -1),
                      M.reshape(t * t, filters, -1))
        blocks = self.buffer("blocks", m, filters, dtype)
        threads.matmul(self.matrix(self.output_matrix, dtype), M.reshape(t * t, -1), out=blocks.reshape(m * m, -1))
        out = xp.empty((filters,) + layer.output_shape[1:] + (x.shape[0],), dtype=dtype)
        bias = layer.params["b"] if layer.use_bias else xp.zeros(filters, dtype=dtype)
        self.place_blocks(channel_first(blocks), bias[:, None, None, None], out)
        return out.transpose(3, 0, 1, 2)

    def backward(self, dout, input_gradient=True):
        """dout (N, F, H_out, W_out) -> (dx (N, C, H, W) or None, dW (F, C, 3, 3), db (F,) or None).

        dx is a view of fresh (C, H, W, N) memory."""
        layer, xp, t, m, dtype = self.layer, backend.xp, self.t, self.m, dout.dtype
        channels, filters = layer.input_shape[0], layer.filters
        blocks = self.buffer("blocks", m, filters, dtype)
        self.gather_blocks(dout.transpose(1, 2, 3, 0), channel_first(blocks))
        dM = self.buffer("M", t, filters, dtype)
        threads.matmul(self.matrix(self.output_matrix, dtype).T, blocks.reshape(m * m, -1), out=dM.reshape(t * t, -1))
        dU = self.products(dM.reshape(t * t, filters, -1), self.V.reshape(t * t, channels, -1).transpose(0, 2, 1),
                           xp.empty((t * t, filters, channels), dtype=dtype))
        dW = self.filter_transform_transposed(dU.reshape(t, t, filters, channels))
        ones = layer.work_buffers.get("ones", (dout[0].size // filters * dout.shape[0],), dtype, fill=1)
        db = channel_rows(dout) @ ones if layer.use_bias else None
        if not input_gradient:
            return None, dW, db
        dV = self.products(self.U.reshape(t * t, filters, channels).transpose(0, 2, 1), dM.reshape(t * t, filters, -1),
                           self.V.reshape(t * t, channels, -1))
        dtiles = self.buffer("tiles", t, channels, dtype)
        threads.matmul(self.matrix(self.input_matrix, dtype).T, dV.reshape(t * t, -1), out=dtiles.reshape(t * t, -1))
        # fresh memory: dx must not be a work buffer that the next backward overwrites
        dpadded = xp.zeros(self.padded_shape(dout.shape[0]), dtype=dtype)
        self.add_tiles(channel_first(dtiles), dpadded)
        return layer.interior(dpadded).transpose(3, 0, 1, 2), dW, db

    @staticmethod
    def matrix(values, dtype):
        """A transform matrix (host numbers) as an array of the active backend, in ``dtype``."""
        return backend.to_device(values, dtype=dtype)

    def filter_transform(self, weight):
        """U[a, b] = G w G^T for every filter: (F, C, 3, 3) -> (t, t, F, C)."""
        G = self.matrix(self.filter_matrix, weight.dtype)
        return backend.xp.einsum("ap,fcpq,bq->abfc", G, weight, G)

    def filter_transform_transposed(self, dU):
        """dW = G^T dU G for every filter: (t, t, F, C) -> (F, C, 3, 3)."""
        G = self.matrix(self.filter_matrix, dU.dtype)
        return backend.xp.einsum("ap,abfc,bq->fcpq", G, dU, G)

    @staticmethod
    def products(a, b, out):
        """out[k] = a[k] @ b[k] for each tile position k (t * t of them), the positions shared among the
        step's threads; out is returned."""
        def some_positions(start, stop):
            backend.xp.matmul(a[start:stop], b[start:stop], out=out[start:stop])
        threads.run_pieces(len(out), some_positions, threads.product_pieces(len(out), a[0].size * b.shape[-1]))
        return out

    def positions(self, size, count):
        """(i, j, rows, cols): for each position (i, j) in a size x size tile or block, the strided slices of
        the image that it covers in every tile (``count`` = (tiles_h, tiles_w) of them, or fewer at the
        output's edge)."""
        for i in range(size):
            for j in range(size):
                yield i, j, slice(i, i + self.m * (count[0] - 1) + 1, self.m), \
                    slice(j, j + self.m * (count[1] - 1) + 1, self.m)

    @threads.in_pieces(axis=0)   # each thread takes whole channels
    def gather_tiles(self, source, padded, tiles):
        """source (C, H, W, N) -> tiles (C, t, t, tiles_h, tiles_w, N): copied into the interior of ``padded``,
        then tiles[:, i, j] = the padded input at position (i, j) of every tile."""
        self.layer.interior(padded)[...] = source
        for i, j, rows, cols in self.positions(self.t, self.tiles):
            tiles[:, i, j] = padded[:, rows, cols]

    @threads.in_pieces(axis=0)   # each thread takes whole channels
    def add_tiles(self, dtiles, dpadded):
        """dtiles (C, t, t, tiles_h, tiles_w, N) added onto dpadded (C, m * tiles_h + 2, m * tiles_w + 2, N),
        zeros on entry, where gather_tiles read them (neighbouring tiles overlap by 2)."""
        for i, j, rows, cols in self.positions(self.t, self.tiles):
            dpadded[:, rows, cols] += dtiles[:, i, j]

    def block_counts(self, i, j):
        """How many blocks have their output position (i, j) inside the output: (rows, cols)."""
        _, out_h, out_w = self.layer.output_shape
        return len(range(i, out_h, self.m)), len(range(j, out_w, self.m))

    @threads.in_pieces(axis=0)   # each thread takes whole filters
    def place_blocks(self, blocks, bias, out):
        """blocks (F, m, m, tiles_h, tiles_w, N) + bias (F, 1, 1, 1) -> out (F, H_out, W_out, N), the blocks'
        values past the output's edge dropped."""
        for i, j, rows, cols in self.positions(self.m, self.tiles):
            count_h, count_w = self.block_counts(i, j)
            backend.xp.add(blocks[:, i, j, :count_h, :count_w], bias, out=out[:, i::self.m, j::self.m])

    @threads.in_pieces(axis=0)   # each thread takes whole filters
    def gather_blocks(self, dout, blocks):
        """dout (F, H_out, W_out, N) -> blocks (F, m, m, tiles_h, tiles_w, N), zeros past the output's edge."""
        for i in range(self.m):
            for j in range(self.m):
                count_h, count_w = self.block_counts(i, j)
                blocks[:, i, j, :count_h, :count_w] = dout[:, i::self.m, j::self.m]
                blocks[:, i, j, count_h:] = 0
                blocks[:, i, j, :, count_w:] = 0


def channel_first(array):
    """The (C, a, b, ...) view of an (a, b, C, ...) array: the transforms' copies cut it by channels."""
    return array.transpose(2, 0, 1, 3, 4, 5)
