"""Sequential: parameter counts and summaries as Keras prints them, save/load, refusing bad checkpoints."""
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

from minicnn import backend, layers
from minicnn.lab import zoo
from minicnn.losses import SoftmaxCrossEntropy
from minicnn.model import Sequential

# (trainable, non-trainable) as the papers publish them (docs/papers.md), written out, not recomputed
PUBLISHED_COUNTS = {
    "band-cnn": (786_122, 0),
    "awasthi-basic-cnn": (1_386_506, 0),
    "awasthi-enhanced-cnn": (422_474, 448),
    "report-ann": (235_146, 0),
    "report-cnn": (1_625_866, 0),
    "saraswat-pca-dnn": (12_682, 0),
    "saraswat-cnn": (262_890, 224),
    "miniproject-basic-cnn": (225_034, 0),
    "miniproject-enhanced-cnn": (241_994, 448),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_COUNTS))
def test_zoo_network_has_the_published_parameter_count(name):
    assert zoo.build(name).count_params() == PUBLISHED_COUNTS[name]
    assert (zoo.NETWORKS[name].trainable_params, zoo.NETWORKS[name].non_trainable_params) == PUBLISHED_COUNTS[name]


@pytest.mark.parametrize("name, total, trainable, non_trainable", [
    ("awasthi-enhanced-cnn", "422,922", "422,474", "448"),
    ("miniproject-enhanced-cnn", "242,442", "241,994", "448"),
    ("band-cnn", "786,122", "786,122", "0"),
    ("saraswat-cnn", "263,114", "262,890", "224"),
])
def test_summary_totals_match_keras(name, total, trainable, non_trainable):
    text = zoo.build(name).summary()
    assert f"Total params: {total}\n" in text
    assert f"Trainable params: {trainable}\n" in text
    assert f"Non-trainable params: {non_trainable}\n" in text


def test_summary_rows_are_keras_layout():
    lines = zoo.build("miniproject-enhanced-cnn").summary().splitlines()
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    rows = {line.split()[0]: line for line in lines if line.startswith(" ") and "(" in line}
    assert "(None, 32, 26, 26)" in rows["conv2d"] and rows["conv2d"].rstrip().endswith(" 320")
    assert "(None, 128, 3, 3)" in rows["conv2d_2"] and rows["conv2d_2"].rstrip().endswith(" 73,856")
    assert rows["batch_norm_2"].rstrip().endswith(" 512")
    assert "(None, 1152)" in rows["flatten"]
    assert rows["dense"].rstrip().endswith(" 147,584")


def test_build_errors_name_the_layer():
    with pytest.raises(ValueError, match="Dense 'dense'.*Flatten"):
        Sequential([layers.Dense(3)], input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="Conv2D 'conv2d'.*does not fit"):
        Sequential([layers.Conv2D(3, 5)], input_shape=(1, 3, 3))


def test_forward_with_wrong_shape_names_layer_and_shapes():
    model = zoo.build("awasthi-basic-cnn")
    expected = r"Conv2D 'conv2d' expected input of shape \(N, 1, 28, 28\), got \(2, 1, 32, 32\)"
    with pytest.raises(ValueError, match=expected):
        model.forward(np.zeros((2, 1, 32, 32), dtype=np.float32))


def trained_model():
    model = Sequential([layers.Conv2D(3, 3, padding="same"), layers.BatchNorm(), layers.ReLU(), layers.MaxPool2D(),
                        layers.Flatten(), layers.Dense(4), layers.Dropout(0.5), layers.Dense(3)],
                       input_shape=(1, 6, 6), seed=3)
    x = np.random.default_rng(0).random((8, 1, 6, 6), dtype=np.float32)
    model.forward(x, training=True)  # moves the BatchNorm running statistics off their start
    return model, x


def test_flip_averaging_averages_the_logits_of_each_image_and_its_mirror_image(backend_name):
    model, x = trained_model()
    x = np.random.default_rng(1).random((5, 1, 6, 6), dtype=np.float32)
    mirrored = np.ascontiguousarray(x[:, :, :, ::-1])
    by_hand = (backend.to_numpy(model.forward(x)) + backend.to_numpy(model.forward(mirrored))) / 2
    averaged = model.forward_averaged(x, flip=True)
    assert averaged.dtype == np.float32
    np.testing.assert_allclose(backend.to_numpy(averaged), by_hand, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict_logits(x, batch_size=2, flip_averaged=True), by_hand,
                               rtol=1e-6, atol=1e-6)
    # an image and its mirror image are judged alike: each is the other's second view
    np.testing.assert_allclose(backend.to_numpy(model.forward_averaged(mirrored, flip=True)), by_hand,
                               rtol=1e-6, atol=1e-6)
    assert not np.allclose(by_hand, backend.to_numpy(model.forward(x)))   # so the test can tell the two apart


def moved(images, down, right):
    """images (N, C, H, W) moved ``down`` rows and ``right`` columns (negative: up, left), zeros coming in."""
    pad = max(abs(down), abs(right))
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    height, width = images.shape[-2:]
    return padded[..., pad - down:pad - down + height, pad - right:pad - right + width]


@pytest.mark.parametrize("flip", [False, True])
def test_shift_averaging_averages_the_logits_of_the_image_moved_each_way(backend_name, flip):
    model, _ = trained_model()
    x = np.random.default_rng(2).random((5, 1, 6, 6), dtype=np.float32)
    moves = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-2, 0), (2, 0), (0, -2), (0, 2)]
    views = [moved(x, down, right) for down, right in moves]
    views += [view[..., ::-1] for view in views] if flip else []
    by_hand = np.mean([backend.to_numpy(model.forward(np.ascontiguousarray(view))) for view in views], axis=0)
    averaged = model.forward_averaged(x, flip=flip, shift=2)
    assert averaged.dtype == np.float32
    np.testing.assert_allclose(backend.to_numpy(averaged), by_hand, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_logits(x, batch_size=2, flip_averaged=flip, shift_averaged=2), by_hand,
                               rtol=1e-5, atol=1e-6)
    one_pixel = np.mean([backend.to_numpy(model.forward(np.ascontiguousarray(view))) for view in views[:5]], axis=0)
    np.testing.assert_allclose(backend.to_numpy(model.forward_averaged(x, shift=1)), one_pixel, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one_pixel, backend.to_numpy(model.forward(x)))   # so the test can tell them apart


def test_test_time_augmentation_refuses_a_network_not_given_images_and_a_shift_it_cannot_make():
    model = Sequential([layers.Dense(3)], input_shape=(8,))
    for flip, shift in ((True, 0), (False, 1)):
        with pytest.raises(ValueError, match=r"model 'sequential': flip and shift averaging mirror and move images "
                                             r"\(C, H, W\), but its input is \(8,\)"):
            model.forward_averaged(np.zeros((2, 8), dtype=np.float32), flip=flip, shift=shift)
    model, x = trained_model()
    for shift in (6, -1, 1.0):
        with pytest.raises(ValueError, match=rf"model 'sequential': shift averaging moves \(6, 6\) images by a "
                                             rf"whole number of pixels, at least 0 and less than their height and "
                                             rf"width; got {shift}"):
            model.forward_averaged(x, shift=shift)


def test_save_load_round_trip_gives_identical_outputs(tmp_path, backend_name):
    model, x = trained_model()
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = Sequential.load(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(backend.to_numpy(loaded.forward(x)), backend.to_numpy(model.forward(x)))
    assert loaded.count_params() == model.count_params()
    assert not [name for name in os.listdir(tmp_path) if name != "model.npz"], "temporary files left behind"


def rewrite(path, target, change):
    """Copy checkpoint ``path`` to ``target`` with ``change(dict of arrays)`` applied."""
    with np.load(path) as archive:
        contents = {key: archive[key] for key in archive.files}
    change(contents)
    np.savez(target, **contents)


@pytest.mark.parametrize("tamper, message", [
    (lambda c: c.__setitem__("param/0/W", np.zeros((3, 1, 2, 2), np.float32)), "shape"),
    (lambda c: c.pop("buffer/1/running_var"), "missing"),
    (lambda c: c.__setitem__("param/9/W", np.zeros(2, np.float32)), "unexpected"),
    (lambda c: c.__setitem__("architecture", np.array("{not json")), "architecture"),
    (lambda c: c.__setitem__("format_version", np.array(99)), "format version 99"),
    (lambda c: c.__setitem__("architecture", np.array(json.dumps(
        {"input_shape": [1, 6, 6], "dtype": "float32", "layers": [{"class": "os.system", "config": {}}]}))),
     "unknown layer class"),
])
def test_tampered_checkpoints_are_refused(tmp_path, tamper, message):
    model, _ = trained_model()
    model.save(tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", tamper)
    with pytest.raises(ValueError, match=message) as error:
        Sequential.load(tmp_path / "bad.npz")
    assert "bad.npz" in str(error.value)


def test_pickled_objects_are_refused(tmp_path):
    model, _ = trained_model()
    model.save(tmp_path / "good.npz")
    rewrite(tmp_path / "good.npz", tmp_path / "pickled.npz",
            lambda c: c.__setitem__("param/0/W", np.array([{"evil": 1}], dtype=object)))
    with pytest.raises(ValueError, match="pickled.npz"):
        Sequential.load(tmp_path / "pickled.npz")


@pytest.mark.parametrize("content", [b"", b"this is not a zip file at all", b"PK\x03\x04truncated"])
def test_not_a_zip_is_refused(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"junk.npz: not a minicnn .npz file \(not a zip archive\)"):
        Sequential.load(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    model, _ = trained_model()
    model.save(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        Sequential.load(tmp_path / "cut.npz")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        Sequential.load(tmp_path / "nothing-here.npz")


def test_object_arrays_are_never_written(tmp_path):
    model, _ = trained_model()
    with pytest.raises(ValueError, match="pickle"):
        model.save(tmp_path / "model.npz", extra_arrays={"bad": np.array([{"a": 1}], dtype=object)})
    assert os.listdir(tmp_path) == []


def test_a_crash_while_saving_keeps_the_old_file(tmp_path, monkeypatch):
    model, _ = trained_model()
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def write_half_then_fail(file, **contents):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.Conv2D(3, 3, stride=0), "stride must be >= 1"),
    (lambda: layers.MaxPool2D(2, stride=0), "stride must be >= 1"),
    (lambda: layers.Conv2D(3, 3, padding="full"), "padding must be"),
    (lambda: layers.Conv2D(0, 3), "Conv2D filters must be a whole number >= 1, got 0"),
    (lambda: layers.Conv2D(8, (3, 0)), r"Conv2D kernel_size must be .* got \(3, 0\)"),
    (lambda: layers.Conv2D(8, 2.5), "Conv2D kernel_size must be a whole number"),
    (lambda: layers.MaxPool2D(0), "MaxPool2D pool_size must be a whole number >= 1 or a pair of them, got 0"),
    (lambda: layers.AvgPool2D((2, 2, 2)), "AvgPool2D pool_size must be"),
    (lambda: Sequential([layers.Dense(2)], input_shape=(3,), dtype="float16"), "float32 or float64, got float16"),
    (lambda: layers.Dropout(1.0), "probability of dropping"),
    (lambda: layers.BatchNorm(convention="tensorflow"), "convention"),
])
def test_bad_layer_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_batch_norm_refuses_a_single_value_per_channel_in_training():
    layer = layers.BatchNorm()
    layer.build((4,))
    with pytest.raises(ValueError, match="more than one value per channel"):
        layer.forward(backend.to_device(np.ones((1, 4), dtype=np.float32)), training=True)
    assert layer.forward(backend.to_device(np.ones((1, 4), dtype=np.float32)), training=False).shape == (1, 4)


def test_zoo_builds_either_batch_norm_convention_with_the_same_counts():
    keras = zoo.build("awasthi-enhanced-cnn", batch_norm="keras")
    norms = [layer for layer in keras.layers if isinstance(layer, layers.BatchNorm)]
    assert len(norms) == 3 and all((n.convention, n.momentum, n.eps) == ("keras", 0.99, 1e-3) for n in norms)
    assert keras.count_params() == PUBLISHED_COUNTS["awasthi-enhanced-cnn"]
    assert all(n.convention == "pytorch" for n in zoo.build("awasthi-enhanced-cnn").layers
               if isinstance(n, layers.BatchNorm))


def test_skipping_the_input_gradient_lasts_one_backward_only():
    model, x = trained_model()
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x, training=True), np.arange(8) % 3)
    assert model.backward(loss.backward(), input_gradient=False) is None
    loss.forward(model.forward(x, training=True), np.arange(8) % 3)
    assert model.backward(loss.backward()).shape == x.shape
    assert model.layers[0].skip_input_gradient is False


def test_backward_names_the_shape_it_needs():
    fresh = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(1, 6, 6), seed=3)
    with pytest.raises(ValueError, match="backward before any forward"):
        fresh.backward(np.zeros((8, 3), dtype=np.float32))
    model, x = trained_model()
    with pytest.raises(ValueError, match=r"shape \(8, 3\), got \(4, 3\)"):
        model.backward(np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(8, 3\), got \(8, 10\)"):
        model.backward(np.zeros((8, 10), dtype=np.float32))


def test_conv_input_gradient_is_not_overwritten_by_the_next_backward():
    # one channel, no padding: the transposed work buffer is already contiguous, the case that used to alias it
    layer = layers.Conv2D(2, 3)
    layer.build((1, 5, 5), rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = backend.to_device(rng.standard_normal((1, 1, 5, 5)).astype(np.float32))
    layer.forward(x, training=True)
    dx = layer.backward(backend.to_device(rng.standard_normal((1, 2, 3, 3)).astype(np.float32)))
    kept = backend.to_numpy(dx).copy()
    layer.forward(x, training=True)
    layer.backward(backend.to_device(rng.standard_normal((1, 2, 3, 3)).astype(np.float32)))
    np.testing.assert_array_equal(backend.to_numpy(dx), kept)


def test_saraswat_pca_dnn_is_initialised_like_the_authors_pytorch_code():
    # Their notebooks build it from torch.nn.Linear: W and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    # Keras's Glorot-uniform would reach sqrt(6 / (187 + 64)) = 0.155 > 1/sqrt(187) = 0.073, with zero biases.
    model = zoo.build("saraswat-pca-dnn", seed=0)
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    for layer, fan_in in zip(dense, (187, 64, 64)):
        weights, bias = (backend.to_numpy(layer.params[key]) for key in ("W", "b"))
        assert np.abs(weights).max() <= 1 / np.sqrt(fan_in) and np.abs(bias).max() <= 1 / np.sqrt(fan_in)
        assert bias.any()


def test_to_the_active_backend_moves_the_model_and_to_another_one_warns_that_it_switches_the_process():
    model = Sequential([layers.Dense(3)], input_shape=(4,), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.to(backend.name) is model
    if "cupy" not in backend.available_backends():   # the warning comes before the switch is tried (and fails)
        with pytest.warns(FutureWarning, match=r"call minicnn.set_backend\('cupy'\) first"), \
                pytest.raises(backend.BackendError):
            model.to("cupy")
        assert backend.name == "numpy"


def test_a_model_file_carries_its_input_preparation_pca_included(tmp_path):
    from minicnn.data.preparation import InputPreparation
    from minicnn.data.projections import PCAProjection
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    pca = PCAProjection.fit(InputPreparation(True).prepare(images), 0.9, standardize=True)
    preparation = InputPreparation(True, pca=pca)
    model = Sequential([layers.Dense(3)], input_shape=(len(pca.components),), seed=0)
    model.input_preparation = preparation
    model.save(tmp_path / "model.npz")
    loaded = Sequential.load(tmp_path / "model.npz")
    assert loaded.input_preparation.describe() == f"standardized, PCA ({len(pca.components)} components)"
    expected = ((images.reshape(40, -1) / 255.0 - 0.2860) / 0.3530 - pca.mean) @ pca.components.T
    np.testing.assert_allclose(loaded.prepare(images), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(loaded.predict(loaded.prepare(images)), model.predict(model.prepare(images)))
    with pytest.raises(ValueError, match="fitted on standardized pixels"):
        InputPreparation(False, pca=pca)


def test_a_model_that_does_not_record_its_preparation_says_what_prepare_assumes():
    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(1, 4, 4), seed=0)
    with pytest.warns(UserWarning, match=r"does not record how its input was prepared: the pixels are scaled to "
                                         r"\[0, 1\]"):
        inputs = model.prepare(np.full((2, 4, 4), 255, dtype=np.uint8))
    assert inputs.shape == (2, 1, 4, 4) and inputs.dtype == np.float32 and inputs.max() == 1.0


def test_a_layer_that_overrides_build_is_told_which_methods_to_override():
    with pytest.raises(TypeError, match=r"MyScale overrides build\(\), which Layer runs itself.*override "
                                        r"create_params\(self\).*compute_output_shape\(self, input_shape\)"):
        class MyScale(layers.Layer):
            def build(self, input_shape):
                self.params["s"] = np.ones(input_shape[0])
                return input_shape
