"""minicnn.projections: the PCA preprocessing of Saraswat et al. against scikit-learn's PCA, and its file."""
import numpy as np
import pytest
from sklearn.decomposition import PCA

from minicnn.data.projections import PCAProjection, components_for_variance


@pytest.fixture
def images():
    """Correlated 6x6 "images": a few strong directions plus noise, so that few components carry most variance."""
    rng = np.random.default_rng(0)
    strong = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 36)) * 3.0
    return (strong + rng.normal(size=(200, 36)) * 0.3).reshape(200, 1, 6, 6).astype(np.float32)


def test_components_for_variance():
    ratio = np.array([0.5, 0.3, 0.12, 0.05, 0.03])
    assert components_for_variance(ratio, 0.5) == 1
    assert components_for_variance(ratio, 0.90) == 3
    assert components_for_variance(ratio, 0.95) == 4
    assert components_for_variance(ratio[:2], 0.95) is None


@pytest.mark.parametrize("variance", [0.5, 0.95, 0.999])
def test_projection_keeps_the_fewest_components_for_the_variance_and_matches_scikit_learn(images, variance):
    projection = PCAProjection.fit(images, variance)
    reference = PCA().fit(images.reshape(200, -1))
    cumulative = np.cumsum(reference.explained_variance_ratio_)
    count = len(projection.components)
    assert cumulative[count - 1] >= variance and (count == 1 or cumulative[count - 2] < variance)
    features = projection.transform(images[:20])
    assert features.shape == (20, count) and features.dtype == np.float32
    # Principal axes are defined up to sign: compare coordinates up to each column's sign.
    expected = reference.transform(images[:20].reshape(20, -1))[:, :count]
    signs = np.sign(np.sum(features * expected, axis=0))
    np.testing.assert_allclose(features * signs, expected, rtol=1e-3, atol=1e-3)


def test_projection_survives_its_file(images, tmp_path):
    projection = PCAProjection.fit(images, 0.9, standardize=True)
    projection.save(tmp_path / "pca.npz")
    loaded = PCAProjection.load(tmp_path / "pca.npz")
    assert loaded.variance == 0.9 and loaded.standardize is True
    np.testing.assert_array_equal(loaded.transform(images), projection.transform(images))


def test_projection_names_what_is_wrong(images, tmp_path):
    projection = PCAProjection.fit(images, 0.9)
    with pytest.raises(ValueError, match="projects images of 36 pixels, got 784"):
        projection.transform(np.zeros((2, 28, 28), dtype=np.float32))
    np.savez(tmp_path / "weights.npz", mean=np.zeros(36))
    with pytest.raises(ValueError, match=r"weights\.npz: not a PCA file written by minicnn"):
        PCAProjection.load(tmp_path / "weights.npz")
