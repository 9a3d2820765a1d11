"""The naive Winograd convolution (Lavin & Gray 2015): a loop over the tiles, each tile's formula written out.

For a 3x3 filter w and stride 1, each m x m block of outputs is computed from the (m + 2) x (m + 2)
tile d of the padded input that it reads, with three small fixed matrices B^T, G and A^T:

    y_block = A^T [ (G w G^T) * (B^T d B) ] A        (* element by element, summed over the channels)

Read minicnn/reference/conv.py first: this computes the same numbers (to rounding) with fewer
multiplications. minicnn/layers/winograd.py runs the same formulas on every tile of the batch at once.
Host NumPy arrays; the dtype of x is kept.
"""
import numpy as np

from minicnn.layers.winograd import MATRICES
from minicnn.reference.conv import padding_sides


def winograd_forward(x, w, b, padding, m=2):
    """The stride-1 3x3 convolution of conv_forward, by F(m x m, 3 x 3) (m = 2 or 4).

    Inputs: x (N, C, H, W); w (F, C, 3, 3); b (F,) or None; padding as conv_forward's; m the block size.
    Returns (out, cache): out (N, F, H_out, W_out) as conv_forward's; cache for winograd_backward.
    """
    ### BEGIN SOLUTION
    BT, G, AT = (matrix.astype(x.dtype) for matrix in MATRICES[m])
    t = m + 2
    top, bottom, left, right = padding_sides(padding)
    out_h, out_w = x.shape[2] + top + bottom - 2, x.shape[3] + left + right - 2
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # zeros past the bottom and right edges, so that the last tiles are whole
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom + tiles_h * m - out_h),
                        (left, right + tiles_w * m - out_w)))
    U = G @ w @ G.T   # (F, C, t, t): every filter transformed once
    out = np.zeros((x.shape[0], w.shape[0], tiles_h * m, tiles_w * m), dtype=x.dtype)
    for ty in range(tiles_h):
        for tx in range(tiles_w):
            d = padded[:, :, ty * m:ty * m + t, tx * m:tx * m + t]   # (N, C, t, t), overlapping its neighbours by 2
            V = BT @ d @ BT.T                                         # (N, C, t, t)
            M = np.einsum("fcab,ncab->nfab", U, V)                    # the products, summed over the channels
            out[:, :, ty * m:ty * m + m, tx * m:tx * m + m] = AT @ M @ AT.T
    out = out[:, :, :out_h, :out_w]   # the blocks past the output's edge are dropped
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out, (x, w, b, padding, m)
    ### END SOLUTION


def winograd_backward(dout, cache):
    """The gradients of winograd_forward: each step's transposes, in reverse order, tile by tile.

    Returns (dx, dw, db): dx (N, C, H, W), dw (F, C, 3, 3), db (F,) (None when b was None).
    """
    ### BEGIN SOLUTION
    x, w, b, padding, m = cache
    BT, G, AT = (matrix.astype(x.dtype) for matrix in MATRICES[m])
    t = m + 2
    top, bottom, left, right = padding_sides(padding)
    out_h, out_w = dout.shape[2], dout.shape[3]
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom + tiles_h * m - out_h),
                        (left, right + tiles_w * m - out_w)))
    # dout read as zeros past the output's edge, where the forward dropped the blocks
    dblocks = np.zeros((dout.shape[0], dout.shape[1], tiles_h * m, tiles_w * m), dtype=dout.dtype)
    dblocks[:, :, :out_h, :out_w] = dout
    U = G @ w @ G.T
    dU = np.zeros_like(U)
    dpadded = np.zeros_like(padded)
    for ty in range(tiles_h):
        for tx in range(tiles_w):
            d = padded[:, :, ty * m:ty * m + t, tx * m:tx * m + t]
            V = BT @ d @ BT.T
            dy = dblocks[:, :, ty * m:ty * m + m, tx * m:tx * m + m]   # (N, F, m, m)
            dM = AT.T @ dy @ AT                                        # y = A^T M A, transposed
            dU += np.einsum("nfab,ncab->fcab", dM, V)                  # every tile used the same U
            dV = np.einsum("nfab,fcab->ncab", dM, U)
            # V = B^T d B, transposed; neighbouring tiles overlap, so their gradients add (+=)
            dpadded[:, :, ty * m:ty * m + t, tx * m:tx * m + t] += BT.T @ dV @ BT
    dw = G.T @ dU @ G   # U = G w G^T, transposed
    dx = dpadded[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db
    ### END SOLUTION
