"""The zoo's build(): the BatchNorm convention is the only thing it changes, and Network takes keywords."""
import pytest

from minicnn.lab import zoo
from minicnn.layers import BatchNorm, Dense, Flatten


def a_builder():
    return [Flatten(), Dense(4), BatchNorm(momentum=0.05, eps=1e-2, name="bn_custom"), BatchNorm(),
            BatchNorm(momentum=0.9, convention="keras", name="bn_keras"), Dense(10)]


@pytest.fixture
def custom(monkeypatch):
    network = zoo.Network(name="custom", paper="a test", citation="a test", description="a test",
                          layers=a_builder, input_shape=(1, 4, 4), trainable_params=0, non_trainable_params=0,
                          reported_accuracy=None, reported_split=None, framework="pytorch", recipe={})
    monkeypatch.setitem(zoo.NETWORKS, "custom", network)
    return "custom"


def settings(model):
    return [(layer.name, layer.convention, layer.momentum, layer.eps) for layer in model.layers
            if isinstance(layer, BatchNorm)]


def test_build_keeps_what_the_builder_set_on_a_batch_norm(custom):
    # PyTorch's convention asked for: the layers already in it are the builder's own, untouched; the keras
    # one turns pytorch, its chosen momentum keeping its speed (0.9 kept = 0.1 new), its default eps PyTorch's
    assert settings(zoo.build(custom)) == [("bn_custom", "pytorch", 0.05, 1e-2), ("batch_norm", "pytorch", 0.1, 1e-5),
                                           ("bn_keras", "pytorch", pytest.approx(0.1), 1e-5)]


def test_build_with_the_keras_convention_changes_only_the_convention(custom):
    assert settings(zoo.build(custom, batch_norm="keras")) == [
        ("bn_custom", "keras", pytest.approx(0.95), 1e-2),   # 5% of the new statistic, in Keras's terms
        ("batch_norm", "keras", 0.99, 1e-3),   # defaults become Keras's defaults
        ("bn_keras", "keras", 0.9, 1e-3)]


def test_network_takes_keywords_only():
    with pytest.raises(TypeError):
        zoo.Network("x", "paper", "citation", "description", a_builder, (1, 4, 4), 0, 0, None, None, "pytorch", {})


def test_band_cnn_with_the_conclusions_batch_norm_layers():
    from minicnn import layers
    plain, normalized = zoo.build("band-cnn"), zoo.build("band-cnn", batch_norm_layers=True)
    assert plain.count_params() == (786_122, 0)
    # a BatchNorm after each of the four convolutions (64, 64, 128, 128 channels): 2 x 384 of each kind
    assert normalized.count_params() == (786_890, 768)
    kinds = [type(layer).__name__ for layer in normalized.layers]
    assert kinds[:6] == ["Conv2D", "BatchNorm", "ReLU", "Conv2D", "BatchNorm", "ReLU"]
    assert kinds.count("BatchNorm") == 4 and not any(isinstance(layer, layers.BatchNorm) for layer in plain.layers)


# The framework each paper names, quoted in docs/papers.md: its initialisation is the zoo's. Awasthi & Soni:
# "a Convolutional Neural Network (CNN) model ... using Keras"; the ANN-vs-CNN report: "implemented in PyTorch";
# Saraswat et al.: "The models are implemented in Pytorch"; the mini-project is a Keras notebook. Band et al.
# name none (band-cnn).
PAPERS_FRAMEWORKS = {"awasthi-basic-cnn": "keras", "awasthi-enhanced-cnn": "keras",
                     "report-ann": "pytorch", "report-cnn": "pytorch", "saraswat-pca-dnn": "pytorch",
                     "saraswat-cnn": "pytorch", "miniproject-basic-cnn": "keras", "miniproject-enhanced-cnn": "keras"}


@pytest.mark.parametrize("name", sorted(PAPERS_FRAMEWORKS))
def test_each_paper_network_is_initialised_as_its_papers_framework(name):
    assert zoo.NETWORKS[name].framework == PAPERS_FRAMEWORKS[name], f"{name}: the paper names another framework"


def test_every_network_of_a_paper_that_names_its_framework_is_in_that_table():
    naming = (zoo.AWASTHI_SONI, zoo.ANN_VS_CNN_REPORT, zoo.SARASWAT, zoo.MINIPROJECT)
    named = {name for name, network in zoo.NETWORKS.items() if network.paper in naming}
    assert named == set(PAPERS_FRAMEWORKS), "a new network of a paper that names its framework: add it above"
