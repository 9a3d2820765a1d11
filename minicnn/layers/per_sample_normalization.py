"""Layer and group normalization: statistics over each sample's own features, never over the batch."""
import numpy as np

from minicnn import backend
from minicnn.layers.base import Layer, is_positive_whole_number
from minicnn.runtime import threads


class PerSampleNormalization(Layer):
    """What LayerNorm and GroupNorm share: each sample's features cut into G groups of K values, each group
    standardized with its own mean and (biased) variance, then scaled and shifted:

        x_hat = (x - mean) / sqrt(var + eps)   (mean, var over the K values of one group of one sample)
        y = gamma * x_hat + beta
        backward:  dgamma = sum over the batch (and whatever gamma is shared over) of dy * x_hat,
                   dbeta = the same sum of dy,
                   dx_hat = gamma * dy,
                   dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))   (means over the group)

    The same in training and inference: nothing depends on the batch, so there are no running statistics.
    A subclass says how many groups (``group_count``) and what gamma and beta are shaped like
    (``affine_size``: one value per feature, or per channel). The tricks:
    - The input as a (G, K, N) view, the batch innermost (``grouped``): a view, no copy, for a fast
      convolution's batch-innermost output and for a C-ordered array alike; the output and dx are made
      in that order and handed on as (N, ...) views, as the other fast layers do.
    - Group sums as ``ones @ grouped`` (matrix-vector products), not ``.sum``.
    - On the step's threads (minicnn.runtime.threads): the per-sample formulas cut the batch, each thread
      taking whole samples; gamma's and beta's gradients cut the features, each thread taking whole rows.
    """

    def __init__(self, eps=1e-5, name=None):
        super().__init__(name)
        self.eps = float(eps)
        if not self.eps > 0:
            raise ValueError(f"{type(self).__name__} eps must be > 0, got {eps!r}")

    def group_count(self):
        """G, the groups of each sample's features."""
        raise NotImplementedError

    def affine_size(self):
        """P, the values of gamma (and beta): the features are read as (P, Q) for the scale and shift."""
        raise NotImplementedError

    def affine_shape(self):
        """The shape gamma and beta are made in."""
        return (self.affine_size(),)

    def create_params(self):
        self.params["gamma"] = self.new_param(np.ones(self.affine_shape()))
        self.params["beta"] = self.new_param(np.zeros(self.affine_shape()))

    def grouped(self, x):
        """(G, K, N) view of x (N, ...): group g of sample n is grouped[g, :, n]."""
        return backend.xp.moveaxis(x, 0, -1).reshape(self.group_count(), -1, x.shape[0])

    def as_affine(self, grouped):
        """(P, Q, N) view of a (G, K, N) array, one row block per value of gamma."""
        return grouped.reshape(self.affine_size(), -1, grouped.shape[-1])

    def from_grouped(self, grouped, batch):
        """The (N, ...) view of a (G, K, N) array made in grouped's order."""
        return backend.xp.moveaxis(grouped.reshape(self.input_shape + (batch,)), -1, 0)

    def ones(self, count, dtype):
        """A reused ones vector of ``count`` values, for group sums as ones @ grouped."""
        return self.work_buffers.get("ones", (count,), dtype, fill=1)

    def forward(self, x, training=False):
        """x (N, *input_shape) -> y, the same shape (batch innermost in memory). ``training`` changes nothing.

        Caches x_hat (G, K, N) and inv_std (G, N).
        """
        self.batch_size = self.check_input(x)
        xp = backend.xp
        grouped = self.grouped(x)
        self.x_hat = xp.empty(grouped.shape, dtype=x.dtype)
        self.inv_std = self.standardize(grouped, self.x_hat, ones=self.ones(grouped.shape[1], x.dtype))
        out = xp.empty(grouped.shape, dtype=x.dtype)
        self.scale_and_shift(self.as_affine(self.x_hat), self.as_affine(out), gamma=self.params["gamma"].reshape(-1),
                             beta=self.params["beta"].reshape(-1))
        return self.from_grouped(out, x.shape[0])

    def backward(self, dout):
        """dout (N, *input_shape) -> dx, the same shape (batch innermost in memory); writes grads gamma and beta."""
        self.check_output_gradient(dout)
        xp = backend.xp
        dgrouped = self.grouped(dout)
        dgamma, dbeta = self.gamma_beta_gradients(self.as_affine(dgrouped), self.as_affine(self.x_hat))
        self.grads["gamma"] = dgamma.reshape(self.affine_shape())
        self.grads["beta"] = dbeta.reshape(self.affine_shape())
        dx = xp.empty(dgrouped.shape, dtype=dout.dtype)
        self.scale(self.as_affine(dgrouped), self.as_affine(dx), gamma=self.params["gamma"].reshape(-1))   # dx_hat
        self.input_gradient(dx, self.x_hat, self.inv_std, ones=self.ones(dx.shape[1], dout.dtype))
        return self.from_grouped(dx, dout.shape[0])

    # The formulas. grouped, x_hat, dx: (G, K, N); inv_std: (G, N); in (P, Q, N) affine views: gamma, beta (P,).
    # axis=-1: each thread takes whole samples; axis=0: whole rows of gamma.

    @threads.in_pieces(axis=-1)
    def standardize(self, grouped, x_hat, *, ones):
        """x_hat = (grouped - mean) * inv_std, each group of each sample with its own statistics; returns inv_std."""
        xp = backend.xp
        count = grouped.shape[1]
        mean = (ones @ grouped) * (1.0 / count)                   # (G, N)
        xp.subtract(grouped, mean[:, None, :], out=x_hat)
        variance = xp.einsum("gkn,gkn->gn", x_hat, x_hat) * (1.0 / count)
        inv_std = 1.0 / xp.sqrt(variance + self.eps)
        x_hat *= inv_std[:, None, :]
        return inv_std

    @threads.in_pieces(axis=-1)
    def scale_and_shift(self, x_hat, out, *, gamma, beta):
        """out = gamma * x_hat + beta."""
        backend.xp.multiply(x_hat, gamma[:, None, None], out=out)
        out += beta[:, None, None]

    @threads.in_pieces(axis=-1)
    def scale(self, dout, out, *, gamma):
        """out = gamma * dout."""
        backend.xp.multiply(dout, gamma[:, None, None], out=out)

    @threads.in_pieces(axis=0)
    def gamma_beta_gradients(self, dout, x_hat):
        """(dgamma, dbeta) = (sum(dout * x_hat), sum(dout)) over everything but gamma's own axis: (P,) each."""
        xp = backend.xp
        return xp.einsum("pqn,pqn->p", dout, x_hat), xp.einsum("pqn->p", dout)

    @threads.in_pieces(axis=-1)
    def input_gradient(self, dx_hat, x_hat, inv_std, *, ones):
        """dx_hat becomes dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)), in place."""
        xp = backend.xp
        count = dx_hat.shape[1]
        mean_gradient = (ones @ dx_hat) * (1.0 / count)                                   # (G, N)
        mean_projection = xp.einsum("gkn,gkn->gn", dx_hat, x_hat) * (1.0 / count)        # (G, N)
        dx_hat -= mean_gradient[:, None, :]
        dx_hat -= x_hat * mean_projection[:, None, :]
        dx_hat *= inv_std[:, None, :]


class LayerNorm(PerSampleNormalization):
    """LayerNorm(eps=1e-5): each sample normalized over all of its features (Ba, Kiros & Hinton, 2016).

    Params: gamma, beta shaped like one sample, input_shape ((C, H, W) or (D,)): PyTorch's
    nn.LayerNorm(normalized_shape=input_shape) with its elementwise affine. No buffers.
    Input (N, *input_shape) -> the same shape; one group of D = prod(input_shape) values per sample.
    Reference twin: layernorm_forward / layernorm_backward in minicnn/reference/per_sample_normalization.py.
    """

    def config(self):
        return {"eps": self.eps, "name": self.name}

    def group_count(self):
        return 1

    def affine_size(self):
        return int(np.prod(self.input_shape))

    def affine_shape(self):
        return self.input_shape


class GroupNorm(PerSampleNormalization):
    """GroupNorm(groups, eps=1e-5): each sample's channels cut into ``groups`` groups of C / groups
    consecutive channels, each group normalized over its channels and positions (Wu & He, 2018).

    Params: gamma (C,), beta (C,), per channel: PyTorch's nn.GroupNorm(groups, C). No buffers.
    Input (N, C, H, W) or (N, C) -> the same shape; groups must divide C. groups=1 normalizes over the
    whole sample (LayerNorm's statistics with a gamma per channel); groups=C is instance normalization.
    Reference twin: groupnorm_forward / groupnorm_backward in minicnn/reference/per_sample_normalization.py.
    """

    def __init__(self, groups, eps=1e-5, name=None):
        super().__init__(eps, name)
        if not is_positive_whole_number(groups):
            raise ValueError(f"GroupNorm groups must be a whole number >= 1, got {groups!r}")
        self.groups = int(groups)

    def config(self):
        return {"groups": self.groups, "eps": self.eps, "name": self.name}

    def compute_output_shape(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(f"GroupNorm '{self.name}' needs (C, H, W) or (C,) inputs, got {input_shape}")
        if input_shape[0] % self.groups:
            raise ValueError(f"GroupNorm '{self.name}': {self.groups} groups do not divide {input_shape[0]} channels "
                             f"(input {input_shape})")
        return input_shape

    def group_count(self):
        return self.groups

    def affine_size(self):
        return self.input_shape[0]
