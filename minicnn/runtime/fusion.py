"""The one fusion across layers: BatchNorm -> ReLU (or LeakyReLU) -> MaxPool2D, run as one block.

Sequential runs three such layers, one after the other, as a ``NormalizeActivatePool``
when its ``fuse`` is True (the default; ``model.fuse = False`` runs every layer on its
own; ``model.summary()`` marks the layers that run fused). The three layers stay what
they are: their parameters, running statistics, gradients, names and parameter counts;
only the work between them changes, and the block computes nothing of its own that a
layer already computes: it calls BatchNorm's statistics and normalization, the
activation's function and derivative, and MaxPool2D's window reduction and first-maximum
routing.

Why it is allowed: BatchNorm's affine map, ``(z - mean) * inv_std * gamma + beta``, and
the activation are monotone in z for each channel (increasing where gamma >= 0, decreasing
where gamma < 0; rounding keeps each step monotone), so the maximum of a window of the
activated outputs is the activation of the normalized maximum (or minimum, where
gamma < 0) of the window of z. The block pools z first and normalizes and activates a
quarter of the values. On the way back, the gradient reaches z only at each window's
chosen value plus BatchNorm's dense part, which is linear in z:

    dz = scale * dy (at the chosen values) + per_z * z + constant, per channel,

with scale = gamma * inv_std, per_z = -scale * inv_std * dgamma / M and
constant = -scale * dbeta / M - per_z * mean (BatchNorm's backward, with x_hat written
out as (z - mean) * inv_std).

The forward output is bit for bit the unfused layers'. The gradients equal theirs to
rounding (BatchNorm's dense part is computed in another order), except where rounding
maps two different values of one window to the same normalized maximum: the unfused
pooling then sends the gradient to the first of them, the block to the window's extreme z.
Both are maxima of the same output, so either is a valid (sub)gradient.

Reference: the three unfused layers (tests/test_fused.py holds the block equal to them).
What the block gains, measured: docs/benchmarks.md.
"""
from minicnn import backend
from minicnn.layers.activations import LeakyReLU, ReLU
from minicnn.layers.normalization import BatchNorm
from minicnn.layers.pooling import MaxPool2D
from minicnn.runtime import threads
from minicnn.runtime.layout import channel_rows, empty_in_layout, from_channel_rows
from minicnn.runtime.work_buffers import WorkBuffers


def fusable(normalization, activation, pool):
    """True if the three layers are a pattern the block runs: BatchNorm on (C, H, W), ReLU or LeakyReLU
    with 0 <= alpha <= 1 (monotone non-decreasing; alpha > 1 would be too, but is not needed and not
    fused), MaxPool2D whose windows do not overlap."""
    monotone = type(activation) is ReLU or (type(activation) is LeakyReLU and 0.0 <= activation.alpha <= 1.0)
    return (type(normalization) is BatchNorm and len(normalization.input_shape or ()) == 3 and monotone
            and type(pool) is MaxPool2D and not pool.overlapping())


class NormalizeActivatePool:
    """BatchNorm -> ReLU/LeakyReLU -> MaxPool2D as one forward and one backward (see the module's text).

    Input (N, C, H, W), the BatchNorm's input -> output (N, C, H_out, W_out), the pool's output.
    Caches z (the input), the chosen value of each window (its maximum, or its minimum where
    gamma < 0), that value normalized (hat, before gamma and beta; normalized, after) and the
    activation's derivative there; the batch mean and 1 / std. Writes the BatchNorm's running
    statistics (through its own update) and gradients, as the BatchNorm would.
    """

    def __init__(self, normalization, activation, pool):
        self.normalization, self.activation, self.pool = normalization, activation, pool
        self.layers = (normalization, activation, pool)
        self.name = "+".join(layer.name for layer in self.layers)
        self.work_buffers = WorkBuffers()
        self.skip_input_gradient = False
        self.batch_size = None

    def chosen_values(self, z, gamma):
        """(N, C, H_out, W_out): each window's maximum of z; its minimum in the channels where gamma < 0; its
        first value where gamma == 0 (the normalized values are all beta there, and MaxPool2D takes the first)."""
        xp, pool = backend.xp, self.pool
        chosen = empty_in_layout((z.shape[0],) + pool.output_shape, like=z)
        pool.reduce_windows(z, chosen, combine=xp.maximum)
        # only where gamma <= 0 (rare; on a GPU looked for without asking, so computed for every channel)
        negative, flat = (gamma < 0)[None, :, None, None], (gamma == 0)[None, :, None, None]
        if backend.any_or_true_on_device(negative):
            minimum = empty_in_layout(chosen.shape, like=z)
            pool.reduce_windows(z, minimum, combine=xp.minimum)
            xp.copyto(chosen, minimum, where=negative)
        if backend.any_or_true_on_device(flat):
            rows, cols = next(pool.window_offsets())
            xp.copyto(chosen, z[:, :, rows, cols], where=flat)
        return chosen

    def forward(self, x, training=False):
        """x (N, C, H, W) -> (N, C, H_out, W_out): the three layers' output. Updates the running statistics."""
        normalization = self.normalization
        self.batch_size = normalization.check_input(x)
        rows = channel_rows(x)
        count = rows.shape[1]
        gamma, beta = normalization.params["gamma"], normalization.params["beta"]
        self.training = training
        if training:
            normalization.check_training_batch(x, count)
            centred = self.work_buffers.get("centred", rows.shape, x.dtype)   # z - mean, only for the variance
            ones = self.work_buffers.get("ones over z", (count,), x.dtype, fill=1)
            mean, variance, inv_std = normalization.batch_statistics(rows, centred, ones=ones)
            normalization.update_running_statistics(mean, variance, count)
        else:
            mean = normalization.buffers["running_mean"]
            inv_std, scale, shift = normalization.running_scale_and_shift()
        self.mean, self.inv_std, self.count, self.z = mean, inv_std, count, x
        self.chosen = self.chosen_values(x, gamma)
        chosen_rows = channel_rows(self.chosen)
        normalized = backend.xp.empty(chosen_rows.shape, dtype=x.dtype)
        with threads.whole():   # a quarter of z's values: fewer hand-offs to threads than they would save
            if training:   # BatchNorm's training operations, on the chosen values only: the same numbers
                hat = backend.xp.empty(chosen_rows.shape, dtype=x.dtype)
                normalization.centre(chosen_rows, mean, hat)
                normalization.normalize(hat, inv_std, gamma, beta, normalized)
                self.hat = from_channel_rows(hat, self.chosen.shape)
            else:   # BatchNorm's inference operations; hat and the derivative only if a backward asks for them
                normalization.scale_and_shift(chosen_rows, scale, shift, normalized)
                self.hat = None
            self.normalized = from_channel_rows(normalized, self.chosen.shape)
            self.slope = self.activation.derivative(self.normalized) if training else None
            return self.activation.function(self.normalized)

    def backward(self, dout):
        """dout (N, C, H_out, W_out) -> dz (N, C, H, W), batch innermost; writes BatchNorm's grads gamma and beta.

        dy (at the chosen values) = dout times the activation's derivative there;
        dgamma = sum(dy * hat), dbeta = sum(dy), over the chosen values only (dy is 0 elsewhere);
        dz = per_z * z + constant everywhere (BatchNorm's mean and variance terms), plus scale * dy
        at each window's chosen value (the first one in window order, as MaxPool2D chooses).
        """
        normalization, xp = self.normalization, backend.xp
        self.pool.check_output_gradient(dout, self.batch_size)
        with threads.whole():   # the chosen values' passes, as in the forward
            if self.slope is None:   # after an inference forward
                self.slope = self.activation.derivative(self.normalized)
            if self.hat is None:
                self.hat = from_channel_rows(normalization.standardize(channel_rows(self.chosen), self.mean,
                                                                       self.inv_std), self.chosen.shape)
            gradient = threads.elementwise(xp.multiply, dout, self.slope)   # dy at the chosen values
            gradient_rows = channel_rows(gradient)
            ones = self.work_buffers.get("ones over the chosen values", gradient_rows.shape[1:], dout.dtype, fill=1)
            dgamma, dbeta = normalization.gamma_beta_gradients(gradient_rows, channel_rows(self.hat), ones=ones)
            scale = normalization.params["gamma"] * self.inv_std
            routed = threads.elementwise(xp.multiply, gradient, scale[None, :, None, None])   # passed on to z
        normalization.grads["gamma"], normalization.grads["beta"] = dgamma, dbeta
        per_z = constant = None   # in inference the running statistics do not depend on z
        if self.training:   # the mean and variance depend on every z
            per_z = scale * dgamma * (-1.0 / self.count) * self.inv_std
            constant = -scale * dbeta * (1.0 / self.count) - per_z * self.mean
            per_z, constant = per_z[None, :, None, None], constant[None, :, None, None]
        dz = empty_in_layout(self.z.shape, like=self.z)
        self.input_gradient(self.z, self.chosen, routed, per_z, constant, dz)
        return dz

    @threads.in_pieces(axis=1)   # each thread takes whole channels
    def input_gradient(self, z, chosen, routed, per_z, constant, dz):
        """dz = per_z * z + constant (nothing without them), plus ``routed`` at each window's first chosen value
        (MaxPool2D's routing)."""
        if per_z is not None:
            backend.xp.multiply(z, per_z, out=dz)
            dz += constant
        self.pool.route_to_first_maxima(z, chosen, routed, dz, clear=per_z is None, add=True)


def fused_triples(layers, fuse):
    """The start index of each BatchNorm -> activation -> MaxPool2D triple of ``layers`` that runs as a fused
    block (none when ``fuse`` is False), in order."""
    starts, index = [], 0
    while index < len(layers):
        if fuse and index + 3 <= len(layers) and fusable(*layers[index:index + 3]):
            starts.append(index)
            index += 3
        else:
            index += 1
    return starts


def execution_steps(layers, fuse, blocks):
    """The layers in the order forward runs them, each fusable BatchNorm -> activation -> MaxPool2D triple
    replaced by its NormalizeActivatePool: kept in ``blocks`` between calls, keyed by the three layer
    objects themselves; a block whose layers are no longer in a row of ``layers`` is dropped."""
    steps, used, index = [], set(), 0
    starts = fused_triples(layers, fuse)
    while index < len(layers):
        if index in starts:
            triple = tuple(layers[index:index + 3])
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
