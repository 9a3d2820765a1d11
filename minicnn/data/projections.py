"""Principal components and t-SNE: the PCA preprocessing of Saraswat et al. and the 2-D and 3-D maps of the data.

    projection = PCAProjection.fit(train_images, variance=0.95)   # 187 components on Fashion-MNIST
    features = projection.transform(test_images)                 # (N, 187)
    points = pca_embedding(images, n_components=2)               # what plots.plot_embedding_2d draws

scikit-learn does the decompositions (it is the right tool, and the oracle we
would test a hand-written PCA against anyway); it is imported inside the
functions so that training a network that needs none of this never pays for
importing it.
"""
import numpy as np

from minicnn import backend
from minicnn.data.files import read_npz, write_npz_atomically


def _flattened(images):
    """Images as float32 rows (N, D); integer pixels (0..255) are scaled to [0, 1]."""
    images = backend.to_numpy(images)
    rows = images.reshape(len(images), -1)
    if np.issubdtype(rows.dtype, np.integer):
        return rows.astype(np.float32) / 255.0
    return rows.astype(np.float32, copy=False)


def pca_embedding(x, n_components=2):
    """Project images onto their first principal components (scikit-learn's PCA).

    Inputs:
    - x: array (N, ...) of images, e.g. (N, 28, 28) uint8 or (N, 1, 28, 28) float
    - n_components: K, how many components to keep

    Returns:
    - points: float array (N, K), the coordinates along components 1..K
    """
    from sklearn.decomposition import PCA

    return PCA(n_components=n_components).fit_transform(_flattened(x))


def pca_explained_variance(x):
    """The share of the pixel variance each principal component explains.

    Inputs:
    - x: array (N, ...) of images

    Returns:
    - ratio: float array (min(N, D),), in decreasing order, summing to 1;
      this is what ``plot_pca_variance`` draws
    """
    from sklearn.decomposition import PCA

    return PCA().fit(_flattened(x)).explained_variance_ratio_


def tsne_embedding(x, n_samples=2000, seed=0, perplexity=30.0):
    """A 2-D t-SNE map of a random subsample of the images (scikit-learn's TSNE).

    t-SNE costs grow faster than linearly with N, so it runs on ``n_samples``
    images drawn without replacement; as is customary (van der Maaten &
    Hinton), the pixels are first reduced to 50 principal components, which
    speeds it up and removes pixel noise.

    Inputs:
    - x: array (N, ...) of images
    - n_samples: how many images to embed (all of them if N is smaller)
    - seed: seeds both the subsample and t-SNE, so the map is reproducible
    - perplexity: t-SNE's effective number of neighbours; lowered to N - 1
      for tiny inputs, where t-SNE would refuse it

    Returns a tuple of:
    - points: float array (M, 2), M = min(N, n_samples)
    - indices: int array (M,), which rows of ``x`` were embedded, in
      increasing order (use ``labels[indices]`` to colour the points)
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rows = _flattened(x)
    generator = np.random.default_rng(seed)
    indices = np.sort(generator.choice(len(rows), size=min(n_samples, len(rows)), replace=False))
    subsample = rows[indices]
    pca = PCA(n_components=min(50, *subsample.shape), random_state=seed)
    reduced = pca.fit_transform(subsample)
    tsne = TSNE(n_components=2, perplexity=min(perplexity, len(indices) - 1.0),
                init="pca", learning_rate="auto", random_state=seed)
    return tsne.fit_transform(reduced), indices


def components_for_variance(explained_variance_ratio, threshold):
    """How many principal components keep a given share of the variance.

    Inputs:
    - explained_variance_ratio: float array (D,), each component's share of
      the variance, largest first
    - threshold: the share to keep, e.g. 0.95

    Returns:
    - the smallest K whose first K components explain at least ``threshold``
      of the variance (187 for 95% on Fashion-MNIST's training split), or
      None if all D components together explain less
    """
    cumulative = np.cumsum(backend.to_numpy(explained_variance_ratio))
    reached = np.flatnonzero(cumulative >= threshold)
    return int(reached[0]) + 1 if reached.size else None


class PCAProjection:
    """Images -> their coordinates on the leading principal components of the training images.

    Fitted on the training split only, so validation and test images play no
    part in the preprocessing; keeps the fewest components that explain
    ``variance`` of it (187 for 95% of the 48,000 training images).

    Attributes:
    - mean: float32 (D,), the training images' mean (D = 784 pixels).
    - components: float32 (K, D), the kept principal axes, largest variance first.
    - explained_variance_ratio: float (min(N, D),), every component's share, for the variance curve.
    - variance: the share asked for. standardize: whether the pixels were
      standardized before (a projection only fits images scaled the same way).
    """

    def __init__(self, mean, components, explained_variance_ratio, variance, standardize):
        self.mean, self.components = mean, components
        self.explained_variance_ratio = explained_variance_ratio
        self.variance, self.standardize = float(variance), bool(standardize)

    @classmethod
    def fit(cls, images, variance, standardize=False):
        """Fit on float images (N, ...) scaled by data.prepare_images(standardize=standardize)."""
        from sklearn.decomposition import PCA

        pca = PCA().fit(images.reshape(len(images), -1))
        ratio = pca.explained_variance_ratio_
        # components_for_variance is None when rounding keeps all components just short of the share
        count = components_for_variance(ratio, variance) or len(ratio)
        return cls(pca.mean_, pca.components_[:count], ratio, variance, standardize)

    def transform(self, images):
        """Images (N, ...) -> float32 (N, K) coordinates."""
        rows = images.reshape(len(images), -1)
        if rows.shape[1] != self.mean.shape[0]:
            raise ValueError(f"this PCA projects images of {self.mean.shape[0]} pixels, got {rows.shape[1]}")
        return ((rows - self.mean) @ self.components.T).astype("float32", copy=False)

    def save(self, path):
        """One .npz (written atomically) that ``load`` reads back; the run keeps it beside model.npz."""
        write_npz_atomically(path, {"mean": self.mean, "components": self.components,
                                    "explained_variance_ratio": self.explained_variance_ratio,
                                    "variance": self.variance, "standardize": self.standardize})

    @classmethod
    def load(cls, path):
        """Read a file written by ``save``; ValueError naming the file if it is something else."""
        contents = read_npz(path)
        try:
            return cls(contents["mean"], contents["components"], contents["explained_variance_ratio"],
                       contents["variance"], contents["standardize"])
        except KeyError as error:
            raise ValueError(f"{path}: not a PCA file written by minicnn (no {error})") from error
