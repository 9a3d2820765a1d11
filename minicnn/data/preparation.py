"""How raw uint8 images become a model's input, kept in the model's own file.

    preparation = InputPreparation(standardize=True)
    inputs = preparation.prepare(images_uint8)      # (N, 1, 28, 28) float32, standardized
    model.input_preparation = preparation           # saved with the model; Sequential.load reads it back

A model trained on standardized pixels, or on their principal components, gives
wrong answers on pixels merely scaled to [0, 1]. So the file of a model carries
its preparation, and evaluating or predicting with it needs nothing beside it.
"""
import numpy as np

from minicnn.data.projections import PCAProjection
from minicnn.data.split import FASHION_MNIST_MEAN, FASHION_MNIST_STD, prepare_images

# the keys of a model file's arrays that hold a PCA projection (PCAProjection's attributes)
PCA_ARRAYS = ("mean", "components", "explained_variance_ratio")


class InputPreparation:
    """Pixels scaled to [0, 1], then standardized with (mean, std) if ``standardize``, then projected
    onto the principal components of ``pca`` (a PCAProjection) if given.

    - standardize: bool; mean, std: the statistics standardization uses (Fashion-MNIST's by default).
    - pca: a PCAProjection fitted on images prepared the same way, or None.
    """

    def __init__(self, standardize=False, mean=FASHION_MNIST_MEAN, std=FASHION_MNIST_STD, pca=None):
        self.standardize, self.mean, self.std, self.pca = bool(standardize), float(mean), float(std), pca
        if pca is not None and pca.standardize != self.standardize:
            raise ValueError(f"the PCA was fitted on {'standardized' if pca.standardize else 'unstandardized'} "
                             f"pixels, so its input must be too (standardize={pca.standardize})")

    def prepare(self, images, dtype="float32"):
        """uint8 images (N, H, W) or (N, C, H, W) -> the model's input: (N, C, H, W), or (N, K) with PCA."""
        inputs = prepare_images(images, dtype=dtype, standardize=self.standardize, mean=self.mean, std=self.std)
        return inputs if self.pca is None else self.pca.transform(inputs).astype(dtype, copy=False)

    def describe(self):
        """In words, as a line of `minicnn evaluate` says it: "standardized, PCA (187 components)"."""
        words = "standardized" if self.standardize else "scaled to [0, 1]"
        return words + (f", PCA ({len(self.pca.components)} components)" if self.pca is not None else "")

    def settings(self):
        """The JSON-able part, for a model file's architecture entry."""
        return {"standardize": self.standardize, "mean": self.mean, "std": self.std,
                "pca": None if self.pca is None else {"variance": self.pca.variance}}

    def arrays(self):
        """The array part (the PCA's), by their keys in a model file."""
        if self.pca is None:
            return {}
        return {f"input/pca/{key}": np.asarray(getattr(self.pca, key)) for key in PCA_ARRAYS}

    @classmethod
    def from_saved(cls, settings, contents, source):
        """Rebuild from ``settings`` (see settings()) and a model file's arrays; ValueError naming ``source``."""
        try:
            pca = None
            if settings.get("pca") is not None:
                pca = PCAProjection(*(contents[f"input/pca/{key}"] for key in PCA_ARRAYS),
                                    settings["pca"]["variance"], settings["standardize"])
            return cls(settings["standardize"], settings["mean"], settings["std"], pca)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: bad input preparation record: {error}") from error
