"""The one fusion across layers: BatchNorm -> ReLU (or LeakyReLU) -> MaxPool2D, run as one block.

Sequential runs three such layers, one after the other, as a ``NormalizeActivatePool``
when its ``fuse`` is True (the default; ``model.fuse = False`` runs every layer on its
own). The three layers stay what they are: their parameters, running statistics,
gradients, names and parameter counts; only the work between them changes.

Why it is allowed to be faster: the affine map of BatchNorm, ``(z - mean) * inv_std *
gamma + beta``, and the activation are monotone in z for each channel (increasing
where gamma >= 0, decreasing where gamma < 0; rounding keeps each step monotone), so
the maximum of a window of the activated outputs is the activation of the
normalized maximum (or minimum, where gamma < 0) of the window of z. The block pools
z first and normalizes and activates a quarter of the values. On the way back, the
gradient reaches z only at each window's chosen value plus BatchNorm's dense part,
which is linear in z: dz = scale * dy (at the chosen values) + c0 + c1 * z per channel.
Measured with ``python benchmarks/techniques.py`` (AMD EPYC, 2 cores, idle): the
flagship's training step 1.13-1.18x at batch 512 and 64; its first block at batch 512,
timed alone, forward 53.8 -> 35.6 ms and backward 59.3 -> 48.3 ms against the three
layers.

The forward output is bit for bit the unfused layers'. The gradients equal theirs to
rounding (BatchNorm's dense part is computed in another order), except where rounding
maps two different values of one window to the same normalized maximum: the unfused
pooling then sends the gradient to the first of them, the block to the window's extreme z.
Both are maxima of the same output, so either is a valid (sub)gradient.

Reference: the three unfused layers (tests/test_fused.py holds the block equal to them).
"""
from minicnn import backend
from minicnn.runtime import threads
from minicnn.layers.activations import LeakyReLU, ReLU
from minicnn.layers.base import channel_rows, empty_in_layout
from minicnn.layers.normalization import BatchNorm
from minicnn.layers.pooling import MaxPool2D


def fusable(normalization, activation, pool):
    """True if the three layers are a pattern the block runs: BatchNorm on (C, H, W), ReLU or LeakyReLU
    with 0 <= alpha <= 1 (monotone non-decreasing; alpha > 1 would be too, but is not needed and not
    fused), MaxPool2D whose windows do not overlap."""
    monotone = type(activation) is ReLU or (type(activation) is LeakyReLU and 0.0 <= activation.alpha <= 1.0)
    return (type(normalization) is BatchNorm and len(normalization.input_shape or ()) == 3 and monotone
            and type(pool) is MaxPool2D and pool.step_h >= pool.pool_size[0] and pool.step_w >= pool.pool_size[1])


class NormalizeActivatePool:
    """BatchNorm -> ReLU/LeakyReLU -> MaxPool2D as one forward and one backward (see the module's text).

    Input (N, C, H, W), the BatchNorm's input -> output (N, C, H_out, W_out), the pool's output.
    Caches z (the input), the chosen value of each window (its maximum, or its minimum
    where gamma < 0), that value normalized (before gamma and beta) and the activation's
    slope there; the batch mean and 1 / std.
    """

    def __init__(self, normalization, activation, pool):
        self.normalization, self.activation, self.pool = normalization, activation, pool
        self.layers = (normalization, activation, pool)
        self.name = "+".join(layer.name for layer in self.layers)
        self.scratch = None
        self.skip_input_gradient = False

    def chosen_values(self, z, gamma):
        """(N, C, H_out, W_out): each window's maximum of z; its minimum in the channels where gamma < 0; its
        first value where gamma == 0 (the normalized values are all beta there, and MaxPool2D takes the first)."""
        xp = backend.xp
        pool = self.pool
        offsets = list(pool.window_slices())
        chosen = empty_in_layout((z.shape[0],) + pool.output_shape, like=z)

        def reduce_channels(start, stop, reduce, into):
            for index, (rows, cols) in enumerate(offsets):
                window = z[:, start:stop, rows, cols]
                if index == 0:
                    into[:, start:stop] = window
                else:
                    reduce(into[:, start:stop], window, out=into[:, start:stop])

        threads.in_parallel(z.shape[1], lambda start, stop: reduce_channels(start, stop, xp.maximum, chosen))
        # only where gamma <= 0 (rare; on a GPU looked for without asking, so computed for every channel)
        negative, flat = (gamma < 0)[None, :, None, None], (gamma == 0)[None, :, None, None]
        if backend.may_be_any(negative):
            minimum = empty_in_layout(chosen.shape, like=z)
            threads.in_parallel(z.shape[1], lambda start, stop: reduce_channels(start, stop, xp.minimum, minimum))
            xp.copyto(chosen, minimum, where=negative)
        if backend.may_be_any(flat):
            xp.copyto(chosen, z[(slice(None), slice(None)) + offsets[0]], where=flat)
        return chosen

    def activation_slope(self, normalized):
        """dy/d(normalized) of the activation at the chosen values: x > 0 for ReLU, 1 or alpha for LeakyReLU."""
        if type(self.activation) is ReLU:
            return normalized > 0
        slope = empty_in_layout(normalized.shape, like=normalized)
        self.activation.slope_into(normalized, slope)
        return slope

    def activate(self, normalized, training):
        """The activation layer's output at the chosen values; keeps its slope there when training."""
        xp = backend.xp
        self.slope = None
        if type(self.activation) is ReLU:
            if training:
                self.slope = normalized > 0
            return xp.maximum(normalized, 0)
        if not training:   # LeakyReLU's inference operations
            out = normalized * self.activation.alpha
            xp.maximum(normalized, out, out=out)
            return out
        self.slope = self.activation_slope(normalized)
        return normalized * self.slope

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out): the three layers' output. Updates the running statistics."""
        normalization, pool = self.normalization, self.pool
        normalization.check_input(x)
        xp = backend.xp
        rows = channel_rows(x)
        channels, count = rows.shape
        gamma, beta = normalization.params["gamma"], normalization.params["beta"]
        broadcast = (1, channels, 1, 1)
        self.training = training
        if training:
            normalization.check_training_batch(x, count)
            if (self.scratch is None or self.scratch.shape != rows.shape or self.scratch.dtype != x.dtype
                    or not isinstance(self.scratch, xp.ndarray)):
                self.scratch = xp.empty(rows.shape, dtype=x.dtype)
            mean, variance = xp.empty(channels, dtype=x.dtype), xp.empty(channels, dtype=x.dtype)
            inv_std = xp.empty(channels, dtype=x.dtype)
            threads.in_parallel(channels, lambda start, stop: normalization.batch_statistics(
                rows, self.scratch, mean, variance, inv_std, start, stop))
            normalization.update_running_statistics(mean, variance, count)
        else:
            mean = normalization.buffers["running_mean"]
            inv_std = 1.0 / xp.sqrt(normalization.buffers["running_var"] + normalization.eps)
        self.mean, self.inv_std, self.count, self.z = mean, inv_std, count, x
        chosen = self.chosen_values(x, gamma)
        if training:
            # BatchNorm's own operations, in its order, on the chosen values only: the same numbers
            hat = chosen - mean.reshape(broadcast)
            hat *= inv_std.reshape(broadcast)
            normalized = hat * gamma.reshape(broadcast)
            normalized += beta.reshape(broadcast)
        else:   # BatchNorm's inference operations; hat and the slope only if a backward asks for them
            scale = gamma * inv_std
            shift = beta - mean * scale
            hat = None
            normalized = chosen * scale.reshape(broadcast)
            normalized += shift.reshape(broadcast)
        self.chosen, self.hat, self.normalized = chosen, hat, normalized
        pool.batch_size = x.shape[0]   # what its check of dout's shape compares with
        return self.activate(normalized, training)

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dz (N, C, H, W), batch innermost; writes BatchNorm's grads gamma and beta.

        dy (at the chosen values) = dout times the activation's slope there;
        dgamma = sum(dy * hat), dbeta = sum(dy), over the chosen values only (dy is 0 elsewhere);
        dz = c1 * z + c0 everywhere (BatchNorm's mean and variance terms), plus gamma * inv_std * dy
        at each window's chosen value (the first one in window order, as MaxPool2D chooses).
        """
        normalization, pool = self.normalization, self.pool
        pool.check_output_gradient(dout)
        xp = backend.xp
        z, chosen, count = self.z, self.chosen, self.count
        if self.slope is None:   # after an inference forward
            self.slope = self.activation_slope(self.normalized)
        if self.hat is None:
            broadcast = (1, len(self.mean), 1, 1)
            self.hat = (chosen - self.mean.reshape(broadcast)) * self.inv_std.reshape(broadcast)
        gradient = dout * self.slope                   # dy at the chosen values
        gradient_rows, hat_rows = channel_rows(gradient), channel_rows(self.hat)
        dgamma = xp.einsum("cm,cm->c", gradient_rows, hat_rows)
        dbeta = gradient_rows.sum(axis=1)
        normalization.grads["gamma"], normalization.grads["beta"] = dgamma, dbeta
        gamma, inv_std, mean = normalization.params["gamma"], self.inv_std, self.mean
        scale = gamma * inv_std
        # in training, dz = per_z * z + constant beside the routed part: the mean and variance depend on every z
        per_z = scale * dgamma * (-1.0 / count) * inv_std
        constant = -scale * dbeta * (1.0 / count) - per_z * mean
        routed = gradient * scale[None, :, None, None]    # what each chosen value passes on to its z
        offsets = list(pool.window_slices())
        winners = empty_in_layout(chosen.shape, like=chosen, dtype=bool, outer=(len(offsets),))
        dz = empty_in_layout(z.shape, like=z)

        def route_channels(start, stop):
            part = dz[:, start:stop]
            if self.training:
                xp.multiply(z[:, start:stop], per_z[None, start:stop, None, None], out=part)
                part += constant[None, start:stop, None, None]
            else:   # the running statistics do not depend on z
                part.fill(0)
            MaxPool2D.mark_first_maxima(z[:, start:stop], chosen[:, start:stop], winners[:, :, start:stop], offsets)
            for index, (rows, cols) in enumerate(offsets):
                part[:, :, rows, cols] += routed[:, start:stop] * winners[index, :, start:stop]

        threads.in_parallel(z.shape[1], route_channels)
        return dz


def execution_steps(layers, fuse, blocks):
    """The layers in the order forward runs them, each fusable BatchNorm -> activation -> MaxPool2D triple
    replaced by its NormalizeActivatePool: kept in ``blocks`` between calls, keyed by the three layer
    objects themselves; a block whose layers are no longer in a row of ``layers`` is dropped."""
    steps, used, index = [], set(), 0
    while index < len(layers):
        triple = tuple(layers[index:index + 3])
        if fuse and len(triple) == 3 and fusable(*triple):
            if triple not in blocks:
                blocks[triple] = NormalizeActivatePool(*triple)
            steps.append(blocks[triple])
            used.add(triple)
            index += 3
        else:
            steps.append(layers[index])
            index += 1
    for stale in set(blocks) - used:
        del blocks[stale]
    return steps
