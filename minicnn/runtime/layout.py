"""Memory layouts: the fast layers keep (N, C, H, W) arrays whose memory is batch-innermost.

A convolution's matrix product writes its output as (F, H_out, W_out, N) memory; the layers
pass it on as an (N, F, H_out, W_out) view of that memory, and every layer after it makes its
output and gradient in the same order (``empty_in_layout``), so that each element-wise pass
reads and writes its operands in the same order, in long runs. BatchNorm reads such an array
as one row per channel (``channel_rows``) without a copy.
"""
from minicnn import backend


def memory_order(array):
    """The axes of ``array`` from the largest stride to the smallest: (0, 1, 2, 3) for C order,
    (1, 2, 3, 0) for a batch-innermost (N, C, H, W) view of (C, H, W, N) memory."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


def empty_in_layout(shape, like, dtype=None, outer=()):
    """An uninitialised array of ``outer + shape`` whose memory is laid out in ``like``'s axis order
    (``outer`` axes, if any, outermost)."""
    order = memory_order(like)
    memory = backend.xp.empty(tuple(outer) + tuple(shape[axis] for axis in order), dtype=dtype or like.dtype)
    return logical_view(memory, order, outer=len(outer))


def logical_view(memory, order, outer=0):
    """The view of ``memory`` (its axes in the memory ``order`` memory_order gives, after ``outer``
    leading axes) whose axes are in the logical order again: the inverse of transpose(order)."""
    inverse = sorted(range(len(order)), key=lambda position: order[position])
    return memory.transpose(tuple(range(outer)) + tuple(outer + axis for axis in inverse))


def channel_rows(array):
    """(C, M) view of an (N, C, H, W) or (N, D) array: one row per channel, its N*H*W values in a row.

    A view (no copy) when the memory is channel-major with the batch innermost, as the
    fast layers make it; any other layout is copied into that order.
    """
    if array.ndim == 2:
        return array.T
    rows = array.transpose(1, 2, 3, 0)
    return rows.reshape(rows.shape[0], -1)   # reshape copies only if rows is not contiguous


def from_channel_rows(rows, shape):
    """The (N, C, H, W) or (N, D) view of a (C, M) array laid out as channel_rows makes it."""
    if len(shape) == 2:
        return rows.T
    batch, channels, height, width = shape
    return rows.reshape(channels, height, width, batch).transpose(3, 0, 1, 2)
