"""The minicnn command: every subcommand on real data (quick --limit runs) and the usual mistakes."""
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from minicnn import cli
from minicnn.lab.runner import load_splits, prepare_inputs
from minicnn.lab import zoo
from minicnn.data import datasets
from minicnn.lab.runs import default_out_dir, recipe_changes
from minicnn.model import Sequential

WRONG_LAYER = '''
from minicnn.layers import Layer


class Square(Layer):
    """y = x * x, with a backward that forgets the factor 2."""

    def forward(self, x, training=False):
        self.x = x
        return x * x

    def backward(self, dout):
        return dout * self.x
'''


def run(capsys, *arguments):
    """(exit status, stdout, stderr) of `minicnn ARGUMENTS`."""
    status = cli.main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_console_script_is_installed():
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert [script.value for script in scripts if script.name == "minicnn"] == ["minicnn.cli:main"]


def test_zoo_lists_every_network_with_its_published_counts(capsys):
    status, out, _ = run(capsys, "zoo")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert status == 0
    # written out from docs/papers.md, not recomputed
    published = {"band-cnn": "786,122 + 0", "awasthi-basic-cnn": "1,386,506 + 0",
                 "awasthi-enhanced-cnn": "422,474 + 448", "report-ann": "235,146 + 0", "report-cnn": "1,625,866 + 0",
                 "saraswat-pca-dnn": "12,682 + 0", "saraswat-cnn": "262,890 + 224",
                 "miniproject-basic-cnn": "225,034 + 0", "miniproject-enhanced-cnn": "241,994 + 448",
                 "minicnn-best": "786,506 + 768", "resnet20": "272,186 + 1,568"}
    assert set(rows) == set(published)
    for name, counts in published.items():
        assert counts in rows[name], name
    assert "92.74% (test)" in rows["band-cnn"] and "93.30% (validation)" in rows["awasthi-enhanced-cnn"]
    assert "not reported" in rows["minicnn-best"]


def test_summary_prints_the_keras_table(capsys):
    status, out, _ = run(capsys, "summary", "saraswat-cnn")
    assert status == 0
    assert "Trainable params: 262,890\n" in out and "Non-trainable params: 224\n" in out


def test_an_unknown_network_is_refused_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["summary", "lenet"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "unknown network 'lenet'" in error and "band-cnn" in error and "saraswat-pca-dnn" in error
    assert error.count("\n") == 1, "one line, not the usage block"
    with pytest.raises(SystemExit):
        cli.main(["train", "awasthi-enhanced"])
    assert "unknown network 'awasthi-enhanced'; did you mean awasthi-enhanced-cnn" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["train", "band-cnn", "--set", "hidden=64-32"], "'hidden' changes the layers of saraswat-pca-dnn only"),
    (["train", "report-cnn", "--set", "batch_norm_layers=true"],
     "'batch_norm_layers' changes the layers of band-cnn only"),
    (["train", "band-cnn", "--set", "batch_norm_layers=3"], "batch_norm_layers must be true or false, got 3"),
    (["train", "band-cnn", "--set", "dropout=0.3"],
     "bad --set 'dropout=0.3': 'dropout' is not a recipe key; the keys are: optimizer"),
    (["train", "band-cnn", "--set", "epochs"], "bad --set 'epochs': expected KEY=VALUE with KEY a recipe key"),
    (["train", "band-cnn", "--set", "lr=1e-3,1e-4"], "one value per key"),
    (["train", "band-cnn", "--set", "optimizer=Adagrad"], "unknown optimizer 'Adagrad'; choose one of SGD"),
    (["train", "awasthi-enhanced-cnn", "--set", "batch_norm=tf"], "batch_norm must be one of pytorch, keras, got 'tf'"),
    (["train", "minicnn-best", "--set", "nesterov=no"], "nesterov must be true or false, got 'no'"),
    (["train", "saraswat-pca-dnn", "--set", "flip_averaged=true"],
     "flip_averaged mirrors images, and saraswat-pca-dnn is given PCA features: leave it off"),
    (["train", "saraswat-pca-dnn", "--set", "shift_averaged=1"],
     "shift_averaged moves images, and saraswat-pca-dnn is given PCA features: leave it off"),
    (["train", "band-cnn", "--set", "shift_averaged=28"], "shift_averaged: shift averaging moves (28, 28) images by "
     "a whole number of pixels, at least 0 and less than their height and width; got 28"),
    (["train", "band-cnn", "--set", "shift_averaged=true"], "shift_averaged: shift averaging moves (28, 28) images by "
     "a whole number of pixels, at least 0 and less than their height and width; got True"),
    (["train", "band-cnn", "--set", "val_fraction=1.5"], "val_fraction must be a number in (0, 1), got 1.5"),
    (["train", "band-cnn", "--set", 'augment={"pad_crop": -1}'], "augment: pad_crop must be >= 0, got -1"),
    (["train", "band-cnn", "--set", 'early_stopping={"patience": "x"}'],
     "early_stopping takes monitor, patience and min_delta: invalid literal"),
    (["train", "band-cnn", "--set", 'schedule={"name": "StepLR", "step_size": 0}'],
     "schedule StepLR: StepLR step_size must be a whole number of epochs >= 1, got 0"),
    (["sweep", "band-cnn", "--grid", "lr"], "bad grid entry 'lr': expected KEY=VALUE,VALUE,..."),
    (["sweep", "saraswat-pca-dnn", "--grid", "hidden=64+32"], "expected layer widths joined by '-'"),
    (["check-layer", "Square"], "expected MODULE:CLASS or path/to/file.py:CLASS"),
    (["check-layer", "minicnn.layers:Square"], "minicnn.layers has no class 'Square'; it has: AvgPool2D"),
    (["check-layer", "minicnn.layers:ReLU", "--input-shape", "3x8"], "expected positive sizes joined by commas"),
    (["check-layer", "minicnn.model:Sequential"], "Sequential is not a layer: subclass minicnn.layers.Layer"),
])
def test_mistakes_get_one_line_saying_what_to_write(capsys, arguments, message):
    status, _, error = run(capsys, *arguments)
    assert status == 2
    assert message in error and "Traceback" not in error
    assert error.count("\n") == 1


def test_tests_start_in_an_empty_directory_of_their_own():
    # what a user keeps where pytest is started (runs/ of earlier runs) must not change any test
    assert os.listdir(os.getcwd()) == []


def test_a_recipe_mistake_is_named_before_any_run_directory_is_looked_at(capsys, tmp_path):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "config.json").write_text("{}")   # an earlier run
    status, _, error = run(capsys, "train", "band-cnn", "--set", 'schedule={"name": "StepLR", "step_size": 0}',
                           "--out-dir", str(out_dir))
    assert status == 2 and "StepLR step_size must be a whole number of epochs >= 1, got 0" in error


@pytest.fixture
def other_copy_of_the_data(tmp_path, monkeypatch, small_fashion_mnist):
    """A good copy of the data where the search would find it (the user cache), and no download."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.setitem(datasets.BASE_URLS, "fashion-mnist", ["http://127.0.0.1:9/"])
    return small_fashion_mnist(tmp_path / "cache" / "minicnn" / "fashion-mnist")


def test_a_run_uses_the_data_dir_given_and_records_it(capsys, tmp_path, other_copy_of_the_data, small_fashion_mnist):
    given = small_fashion_mnist(tmp_path / "given")
    out_dir = tmp_path / "run"
    status, out, _ = run(capsys, "train", "report-ann", "--epochs", "1", "--data-dir", str(given),
                         "--out-dir", str(out_dir))
    assert status == 0 and f"data: Fashion-MNIST from {given}\n" in out
    assert json.loads((out_dir / "config.json").read_text())["data_dir"] == str(given)
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--data-dir", str(given))
    assert status == 0 and f"data: Fashion-MNIST from {given}\n" in out
    heading = "onfusion matrix (rows: true class, columns: predicted class)"
    assert out.count(heading) == 1 and (out_dir / "report.txt").read_text().count(heading) == 1
    # with no directory given, the search finds the other copy, and the run says and records that one
    status, out, _ = run(capsys, "train", "report-ann", "--epochs", "1", "--out-dir", str(tmp_path / "searched"))
    assert status == 0 and f"data: Fashion-MNIST from {other_copy_of_the_data}\n" in out
    assert json.loads((tmp_path / "searched" / "config.json").read_text())["data_dir"] == str(other_copy_of_the_data)


@pytest.mark.parametrize("command", [["train", "report-ann", "--epochs", "1"], ["evaluate", "MODEL"]])
def test_an_unusable_data_dir_stops_the_run_naming_it(capsys, tmp_path, other_copy_of_the_data, small_fashion_mnist,
                                                     command):
    if command[0] == "evaluate":
        zoo.build("report-ann").save(tmp_path / "model.npz")
        command = ["evaluate", str(tmp_path / "model.npz")]
    partial = small_fashion_mnist(tmp_path / "partial")
    (partial / "t10k-images-idx3-ubyte.gz").unlink()
    for directory, missing in ((tmp_path / "does" / "not" / "exist", "no such directory"),
                               (partial, "missing t10k-images-idx3-ubyte")):
        status, out, error = run(capsys, *command, "--data-dir", str(directory), "--out-dir", str(tmp_path / "run")) \
            if command[0] == "train" else run(capsys, *command, "--data-dir", str(directory))
        assert status == 1 and "Traceback" not in error
        assert f"Fashion-MNIST is not in the data directory given, {directory} ({missing}" in error
        assert "test accuracy" not in out and not (tmp_path / "run" / "config.json").exists()


def test_a_run_that_changes_the_recipe_gets_its_own_default_folder(capsys, tmp_path, small_fashion_mnist):
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    paper_run = tmp_path / "cwd" / "runs" / "report-ann"
    paper_run.mkdir(parents=True)
    (paper_run / "checkpoint.npz").write_bytes(b"the paper's run, half way")
    os.chdir(tmp_path / "cwd")
    status, out, _ = run(capsys, "train", "report-ann", "--limit", "100", "--epochs", "1", "--data-dir", data_dir)
    assert status == 0 and "report and figures in runs/report-ann-limit100-epochs1/" in out
    assert (paper_run / "checkpoint.npz").read_bytes() == b"the paper's run, half way"
    status, out, _ = run(capsys, "reproduce", "report-ann", "--seed", "1", "--epochs", "1", "--limit", "100",
                         "--data-dir", data_dir)
    assert status == 0 and "report and figures in runs/report-ann-limit100-seed1-epochs1/" in out
    assert sorted(os.listdir("runs")) == ["report-ann", "report-ann-limit100-epochs1",
                                          "report-ann-limit100-seed1-epochs1"]


def test_resuming_a_finished_run_says_so_and_reports_its_saved_result(capsys, tmp_path, small_fashion_mnist):
    command = ["train", "report-ann", "--epochs", "1", "--data-dir", str(small_fashion_mnist(tmp_path / "data")),
               "--out-dir", str(tmp_path / "run")]
    status, _, _ = run(capsys, *command)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    report_written = (tmp_path / "run" / "report.txt").stat().st_mtime_ns
    status, out, _ = run(capsys, *command, "--resume")
    assert status == 0 and "epoch   1" not in out and "data:" not in out, "neither trained nor evaluated again"
    assert out == (f"{tmp_path / 'run'} holds a finished run, so there is nothing to resume: its 1 epoch is trained. "
                   f"Its test accuracy was {config['test_accuracy']:.4f} (report in {tmp_path / 'run' / 'report.txt'})."
                   f" To train it further, give more --epochs than 1 with --resume --out-dir {tmp_path / 'run'}.\n")
    assert (tmp_path / "run" / "report.txt").stat().st_mtime_ns == report_written
    (tmp_path / "run" / "config.json").write_text('{"test_accuracy": 0.8')   # a copy cut short
    status, _, error = run(capsys, *command, "--resume")
    assert status == 1 and f"{tmp_path / 'run' / 'config.json'}: not valid JSON (" in error
    assert (tmp_path / "run" / "report.txt").stat().st_mtime_ns == report_written


def test_a_finished_run_in_its_default_folder_is_trained_further_as_its_message_says(capsys, tmp_path,
                                                                                     small_fashion_mnist):
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    (tmp_path / "cwd").mkdir()
    os.chdir(tmp_path / "cwd")
    command = ["train", "report-ann", "--limit", "100", "--data-dir", data_dir, "--resume"]
    run(capsys, *command[:-1], "--epochs", "1")
    status, out, _ = run(capsys, *command, "--epochs", "1")
    advice = out.split("To train it further, ")[1]
    folder = "runs/report-ann-limit100-epochs1"
    assert status == 0 and advice == f"give more --epochs than 1 with --resume --out-dir {folder}.\n"
    status, out, _ = run(capsys, *command, "--epochs", "2", "--out-dir", folder)
    assert status == 0 and "epoch   2" in out and "epoch   1 " not in out
    assert json.loads((tmp_path / "cwd" / folder / "history.json").read_text())["epoch"] == [1, 2]
    # the run is what `--epochs 2` makes (no schedule depends on the epochs), and the results say it was extended
    assert json.loads((tmp_path / "cwd" / folder / "config.json").read_text())["extended_from_epochs"] == 1
    status, out, _ = run(capsys, "results", str(tmp_path / "cwd" / "runs"), "--include-limited")
    assert status == 0 and "resumed from a run of 1 epochs" in out


def test_a_resume_that_would_change_a_cosine_schedule_is_refused_with_the_difference_named(
        capsys, tmp_path, small_fashion_mnist):
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    folder = str(tmp_path / "flagship")
    command = ["train", "awasthi-enhanced-cnn", "--limit", "64", "--data-dir", data_dir, "--out-dir", folder]
    status, _, _ = run(capsys, *command, "--epochs", "1")
    assert status == 0
    status, _, error = run(capsys, *command, "--epochs", "3", "--resume")
    assert status == 2 and "is a run of 1 epochs whose learning rate is cosine-annealed over those 1" in error
    assert "Resume it with --epochs 1, or start a new run in another --out-dir" in error
    status, out, _ = run(capsys, *command, "--epochs", "1", "--resume")
    assert status == 0 and "To train it further" not in out, "no advice that would be refused"


def test_the_default_folder_names_every_change_to_the_recipe():
    changes = recipe_changes("report-ann", {"lr": 2e-3, "label_smoothing": 0.1, "standardize": False})
    assert default_out_dir("runs/report-ann", None, 0, changes) == \
        "runs/report-ann-label_smoothing0.1-lr0.002-standardize-off"
    assert default_out_dir("runs/report-ann", None, 0, recipe_changes("report-ann", {"epochs": 10})) == \
        "runs/report-ann", "the paper's own recipe, spelt out, is the paper's run"
    long = default_out_dir("runs/x", 5, 2, recipe_changes("band-cnn", {"augment": {"rotation_range": 10,
                                                                               "width_shift_range": 0.1}}))
    assert long.startswith("runs/x-limit5-seed2-augment-rotation_range-10-width") and len(long) < 70


def test_a_missing_model_file_is_named(capsys, tmp_path):
    status, _, error = run(capsys, "evaluate", str(tmp_path / "nowhere.npz"))
    assert status == 1 and error == (f"minicnn evaluate: error: {tmp_path / 'nowhere.npz'}: no such file "
                                     "(a run leaves its model in RUN_DIR/model.npz)\n")


def test_a_truncated_or_empty_file_is_called_so(capsys, tmp_path):
    model = tmp_path / "model.npz"
    zoo.build("report-ann").save(model)
    model.write_bytes(model.read_bytes()[:5000])
    (tmp_path / "empty.npz").write_bytes(b"")
    for path, fault in ((model, "truncated or damaged: it begins as an .npz file"), (tmp_path / "empty.npz",
                                                                                 "the file is empty (truncated")):
        status, _, error = run(capsys, "evaluate", str(path))
        assert status == 1 and f"{path}: {fault}" in error and "zip" not in error
    # a checkpoint cut short, as --resume finds it
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.npz").write_bytes(model.read_bytes())
    status, _, error = run(capsys, "train", "report-ann", "--resume", "--out-dir", str(run_dir))
    assert status == 1 and f"{run_dir / 'checkpoint.npz'}: truncated or damaged" in error


def test_a_negative_seed_is_refused_naming_the_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "report-ann", "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "argument --seed: expected a whole number >= 0, got '-1'" in capsys.readouterr().err


def test_an_out_dir_that_is_a_file_is_refused_before_anything_runs(capsys, tmp_path):
    (tmp_path / "a-file").write_text("mine")
    status, out, error = run(capsys, "train", "report-ann", "--out-dir", str(tmp_path / "a-file"))
    assert status == 2 and f"out_dir {tmp_path / 'a-file'} is a file, not a directory" in error
    assert out == "" and (tmp_path / "a-file").read_text() == "mine"


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"minicnn {importlib.metadata.version('minicnn')}\n"


def test_a_reader_that_goes_away_gets_no_broken_pipe_error():
    # the reading end closed before anything is written: what `minicnn zoo | head -0` meets
    read_end, write_end = os.pipe()
    os.close(read_end)
    finished = subprocess.run([sys.executable, "-m", "minicnn.cli", "zoo"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    os.close(write_end)
    assert finished.stderr == "" and finished.returncode == 141


def test_train_then_evaluate_the_saved_model(capsys, tmp_path, fashion_mnist_installed):
    out_dir = tmp_path / "ann"
    status, out, _ = run(capsys, "train", "report-ann", "--limit", "300", "--epochs", "1", "--lr", "2e-3",
                         "--set", "label_smoothing=0.1", "--out-dir", str(out_dir))
    assert status == 0 and "Trainable params: 235,146" in out and "test accuracy" in out
    for name in ("config.json", "history.csv", "model.npz", "report.txt", "curves.png", "confusion.png",
                 "misclassified.png"):
        assert (out_dir / name).stat().st_size > 0, name
    config = json.loads((out_dir / "config.json").read_text())
    assert config["recipe"]["lr"] == 2e-3 and config["recipe"]["label_smoothing"] == 0.1
    assert config["recipe"]["standardize"] is True and config["epochs_run"] == 1

    # the model's file records its standardization: evaluate finds the same accuracy
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300")
    assert status == 0 and "macro avg" in out and "right; standardized)" in out
    assert f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out

    # ... and so it does copied away from its run folder, with no config.json beside it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(out_dir / "model.npz", elsewhere / "copied.npz")
    status, out, error = run(capsys, "evaluate", str(elsewhere / "copied.npz"), "--limit", "300")
    assert status == 0 and f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out
    assert "right; standardized)" in out and "warning" not in error
    status, _, error = run(capsys, "evaluate", str(elsewhere / "copied.npz"), "--no-standardize")
    assert status == 2 and "records how its input is prepared (standardized): drop --standardize" in error


def test_a_model_file_that_does_not_record_its_input_preparation_gets_a_warning_naming_what_is_assumed(
        capsys, tmp_path, fashion_mnist_installed):
    path = tmp_path / "older.npz"
    zoo.build("report-ann", seed=0).save(path)   # a model file as files were before they kept their preparation
    status, out, error = run(capsys, "evaluate", str(path), "--limit", "50")
    assert status == 0 and "right; scaled to [0, 1])" in out
    assert f"warning: {path} does not record how its input was prepared and has no config.json beside it: " \
        "its images are scaled to [0, 1] (give --standardize" in error
    status, out, error = run(capsys, "evaluate", str(path), "--limit", "50", "--standardize")
    assert status == 0 and "right; standardized)" in out and "warning" not in error


def test_a_flip_averaged_run_is_validated_tested_and_evaluated_flip_averaged(capsys, tmp_path,
                                                                              fashion_mnist_installed):
    out_dir = tmp_path / "ann"
    status, out, _ = run(capsys, "train", "report-ann", "--limit", "300", "--epochs", "1",
                         "--set", "flip_averaged=true", "--out-dir", str(out_dir))
    assert status == 0
    config = json.loads((out_dir / "config.json").read_text())
    history = json.loads((out_dir / "history.json").read_text())
    assert config["recipe"]["flip_averaged"] is True
    splits = load_splits(None, 0.2, 0, 300)
    (_, val, test), _ = prepare_inputs(splits, config["recipe"])
    model = Sequential.load(out_dir / "model.npz")
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(model.predict(val[0], flip_averaged=True) == val[1]))
    assert config["test_accuracy"] == pytest.approx(np.mean(model.predict(test[0], flip_averaged=True) == test[1]))

    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300")
    assert status == 0 and "right; standardized, flip-averaged)" in out
    assert f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out
    plain = np.mean(model.predict(test[0]) == test[1])
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300", "--no-flip-averaged")
    assert status == 0 and f"test accuracy {plain:.4f} on 300 images ({round(plain * 300)} right; standardized)" in out

    # the run's own validation split, picked again from its seed and val_fraction: the history's last figure
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300", "--split", "validation")
    assert status == 0 and f"validation accuracy {history['val_accuracy'][-1]:.4f} on 300 images" in out
    config["recipe"]["val_fraction"] = "0.2"   # edited by hand
    (out_dir / "config.json").write_text(json.dumps(config))
    status, _, error = run(capsys, "evaluate", str(out_dir / "model.npz"), "--split", "validation")
    assert status == 2 and "its recipe's val_fraction (in (0, 1); there: '0.2')" in error
    (out_dir / "config.json").unlink()
    status, _, error = run(capsys, "evaluate", str(out_dir / "model.npz"), "--split", "validation")
    assert status == 2 and f"there is no readable {out_dir / 'config.json'} beside it" in error
    assert "there: None" not in error


def test_a_run_resumed_with_shift_averaging_tests_and_judges_its_kept_weights_with_the_moved_views(
        capsys, tmp_path, fashion_mnist_installed):
    out_dir = tmp_path / "ann"
    common = ["train", "report-ann", "--limit", "300", "--set", "flip_averaged=true", "--out-dir", str(out_dir)]
    assert run(capsys, *common, "--epochs", "1")[0] == 0
    flipped = json.loads((out_dir / "config.json").read_text())
    # shift_averaged judges the finished weights only: a finished run asked for it is tested again, not trained
    status, out, _ = run(capsys, *common, "--epochs", "1", "--set", "shift_averaged=1", "--resume")
    assert status == 0 and "epoch   1" not in out
    assert (f"{out_dir} holds a finished run tested with shift_averaged=0; its kept weights are tested again with "
            f"shift_averaged=1") in out
    retested = json.loads((out_dir / "config.json").read_text())
    assert retested["recipe"]["shift_averaged"] == 1 and "val_accuracy_as_tested" not in flipped
    assert retested["train_seconds_total"] == flipped["train_seconds_total"]
    # and a run made without it goes on with it
    status, out, _ = run(capsys, *common, "--epochs", "2", "--set", "shift_averaged=1", "--resume")
    assert status == 0 and "training goes on with epoch 2 of 2" in out
    config = json.loads((out_dir / "config.json").read_text())
    history = json.loads((out_dir / "history.json").read_text())
    assert config["recipe"]["shift_averaged"] == 1 and history["epoch"] == [1, 2]
    splits = load_splits(None, 0.2, 0, 300)
    (_, val, test), _ = prepare_inputs(splits, config["recipe"])
    model = Sequential.load(out_dir / "model.npz")
    views = {"flip_averaged": True, "shift_averaged": 1}
    assert config["test_accuracy"] == pytest.approx(np.mean(model.predict(test[0], **views) == test[1]))
    assert config["val_accuracy_as_tested"] == pytest.approx(np.mean(model.predict(val[0], **views) == val[1]))
    assert f"validation accuracy {config['val_accuracy_as_tested']:.4f} judged the same way" in out
    assert f"test accuracy {config['test_accuracy']:.4f} (weights of the last epoch, 2, flip-averaged, " \
           f"shift-averaged (1 px))" in out
    # each epoch was validated flip-averaged only: a forward pass per view is too dear to pay every epoch
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(model.predict(val[0], flip_averaged=True) == val[1]))

    # evaluate takes the shift from the run's config.json, or from --shift-averaged
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300")
    assert status == 0 and "right; standardized, flip-averaged, shift-averaged (1 px))" in out
    assert f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out
    flipped_only = np.mean(model.predict(test[0], flip_averaged=True) == test[1])
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300", "--shift-averaged", "0")
    assert status == 0 and f"test accuracy {flipped_only:.4f} on 300 images" in out
    assert "right; standardized, flip-averaged)" in out
    status, _, error = run(capsys, "evaluate", str(out_dir / "model.npz"), "--shift-averaged", "28")
    assert status == 2 and f"--shift-averaged for {out_dir / 'model.npz'}: shift averaging moves (28, 28) " in error
    assert "images by a whole number of pixels, at least 0 and less than their height and width; got 28" in error
    two_pixels = np.mean(model.predict(val[0], flip_averaged=True, shift_averaged=2) == val[1])
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300", "--shift-averaged", "2",
                         "--split", "validation")
    assert status == 0 and f"validation accuracy {two_pixels:.4f} on 300 images" in out and "(2 px)" in out


def test_reproduce_a_pca_network_then_evaluate_it_with_its_pca(capsys, tmp_path, fashion_mnist_installed):
    out_dir = tmp_path / "dnn"
    status, out, _ = run(capsys, "reproduce", "saraswat-pca-dnn", "--limit", "300", "--epochs", "1",
                         "--out-dir", str(out_dir))
    config = json.loads((out_dir / "config.json").read_text())
    components = config["pca_components"]
    # 300 images need fewer components than the paper's 187 for 95%: the network is rebuilt, and says so
    assert status == 0 and 0 < components < 187
    assert f"note: saraswat-pca-dnn is built on input ({components},)" in out
    assert f"Trainable params: {components * 64 + 64 + 650:,}" in out
    for name in ("pca.npz", "pca_variance.png", "misclassified.png", "report.txt"):
        assert (out_dir / name).stat().st_size > 0, name

    # the model's file carries its PCA: nothing else is needed, here or copied anywhere
    status, out, _ = run(capsys, "evaluate", str(out_dir / "model.npz"), "--limit", "300")
    assert status == 0 and f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out
    assert f"standardized, PCA ({components} components))" in out or f"scaled to [0, 1], PCA ({components} " \
        "components))" in out
    status, _, error = run(capsys, "evaluate", str(out_dir / "model.npz"), "--pca", str(out_dir / "pca.npz"))
    assert status == 2 and "records how its input is prepared" in error and "drop --standardize and --pca" in error

    # a model file from before models carried their PCA finds the pca.npz beside it, and says so
    older = Sequential.load(out_dir / "model.npz")
    older.input_preparation = None
    older.save(out_dir / "older.npz")
    status, out, _ = run(capsys, "evaluate", str(out_dir / "older.npz"), "--limit", "300")
    assert status == 0 and f"note: using {out_dir / 'pca.npz'}, the PCA of the run beside the model" in out
    assert f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(out_dir / "older.npz", lone / "older.npz")
    status, _, error = run(capsys, "evaluate", str(lone / "older.npz"))
    assert status == 2 and f"there is no {lone / 'pca.npz'}: pass the pca.npz of its run with --pca" in error
    status, out, _ = run(capsys, "evaluate", str(lone / "older.npz"), "--limit", "300", "--pca", str(out_dir / "pca.npz"))
    assert status == 0 and f"test accuracy {config['test_accuracy']:.4f} on 300 images" in out

    image_model = tmp_path / "images.npz"
    zoo.build("report-ann").save(image_model)
    status, _, error = run(capsys, "evaluate", str(image_model), "--pca", str(out_dir / "pca.npz"))
    assert status == 2 and "takes images (1, 28, 28), not PCA features: drop --pca" in error


def test_a_run_directory_is_never_replaced_by_mistake(capsys, tmp_path, fashion_mnist_installed):
    out_dir = tmp_path / "run"
    status, _, error = run(capsys, "reproduce", "report-ann", "--limit", "100", "--epochs", "1",
                           "--out-dir", str(out_dir), "--resume")
    assert status == 2 and f"nothing to resume: there is no {out_dir / 'checkpoint.npz'}" in error
    (out_dir / "pca.npz").parent.mkdir()
    (out_dir / "pca.npz").write_bytes(b"the file of an earlier PCA run")
    status, _, error = run(capsys, "reproduce", "report-ann", "--limit", "100", "--epochs", "1",
                           "--out-dir", str(out_dir))
    assert status == 2 and f"{out_dir} already holds a run (pca.npz): --resume continues it, --overwrite" in error
    status, _, _ = run(capsys, "reproduce", "report-ann", "--limit", "100", "--epochs", "1",
                       "--out-dir", str(out_dir), "--overwrite")
    assert status == 0 and not (out_dir / "pca.npz").exists() and (out_dir / "report.txt").exists()
    # resuming with another seed would move images between the training and validation splits
    status, _, error = run(capsys, "reproduce", "report-ann", "--limit", "100", "--epochs", "2", "--seed", "1",
                           "--out-dir", str(out_dir), "--resume")
    assert status == 1 and "checkpoint of another run (seed 0 there, 1 here)" in error
    status, out, _ = run(capsys, "reproduce", "report-ann", "--limit", "100", "--epochs", "2",
                         "--out-dir", str(out_dir), "--resume")
    assert status == 0 and "epoch   2" in out and "epoch   1 " not in out


def test_check_layer_passes_a_right_layer(capsys):
    status, out, _ = run(capsys, "check-layer", "minicnn.layers:Conv2D", "--input-shape", "2,5,5",
                         "--args", '{"filters": 2, "kernel_size": 3, "stride": 2}')
    assert status == 0
    assert out.count("passed (tolerance 1e-06)") == 3 and "Conv2D: every gradient check passed" in out
    assert "on input (3, 2, 6, 6)" in out   # an odd size and another batch, not just the shape given


def test_check_layer_fails_a_wrong_layer(capsys, tmp_path):
    (tmp_path / "wrong_layer.py").write_text(WRONG_LAYER)
    status, out, _ = run(capsys, "check-layer", f"{tmp_path / 'wrong_layer.py'}:Square", "--input-shape", "2,3,3")
    assert status == 1
    assert "input: relative error 5.00e-01  FAILED" in out and "Square: FAILED" in out


def test_curves_draws_the_runs_and_names_what_is_missing(tmp_path, capsys):
    for name, accuracies in (("a", [0.80, 0.85]), ("b", [0.70, 0.90, 0.91])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text(json.dumps({"val_accuracy": accuracies}))
    out = tmp_path / "ab.png"
    status, printed, _ = run(capsys, "curves", str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "one,two",
                             "--out", str(out))
    assert status == 0 and "2 runs written to" in printed and out.stat().st_size > 0

    status, printed, _ = run(capsys, "curves", str(tmp_path / "b"), "--from-epoch", "2", "--out", str(out))
    assert status == 0 and "curves of 1 run written to" in printed
    status, _, error = run(capsys, "curves", str(tmp_path / "b"), "--from-epoch", "4", "--out", str(out))
    assert status == 2 and "drawing from epoch 4, but the longest of the runs has 3 epochs" in error
    status, _, error = run(capsys, "curves", str(tmp_path / "a"), "--labels", "one,two", "--out", str(out))
    assert status == 2 and "--labels names 2 runs, but 1 run directories" in error
    status, _, error = run(capsys, "curves", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(out))
    assert status == 2 and f"each run needs its own label, and {tmp_path / 'a'} is given twice" in error
    status, _, error = run(capsys, "curves", str(tmp_path / "missing"), "--out", str(out))
    assert status == 2 and "missing/history.json: not a run's readable history" in error
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "history.json").write_text("[0.8, 0.9]")
    status, _, error = run(capsys, "curves", str(tmp_path / "list"), "--out", str(out))
    assert status == 2 and "not a run's history (a JSON object of per-epoch lists), but a JSON list" in error


def test_evaluate_on_a_whole_npz_that_is_not_a_model_says_so(capsys, tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, weights=np.ones(3))
    status, _, error = run(capsys, "evaluate", str(path))
    assert status == 1 and "not a minicnn checkpoint" in error and "truncated" not in error


@pytest.mark.parametrize("arguments, message", [
    (["train", "report-ann", "--epochs", "2", "--set", "epochs=1"],
     "epochs is given twice, by --epochs and by --set epochs=...: give it once"),
    (["train", "report-ann", "--epochs", "1", "--set", "epochs=0"], "epochs is given twice"),
    (["train", "report-ann", "--augment", "--set", "augment=null"], "augment is given twice"),
    (["train", "report-ann", "--set", "lr=0.1", "--set", "lr=0.2"], "--set lr is given twice (0.1 and 0.2)"),
])
def test_a_setting_given_twice_is_refused(capsys, arguments, message):
    status, _, error = run(capsys, *arguments)
    assert status == 2 and message in error and error.count("\n") == 1


def test_an_argparse_mistake_is_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "report-ann", "--epochs", "0"])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1
    assert "minicnn train: error: argument --epochs: expected a positive whole number, got '0'" in error


def test_a_layer_file_with_a_syntax_error_is_placed_in_that_file(capsys, tmp_path):
    (tmp_path / "broken.py").write_text("import numpy\n\nclass Broken(:\n    pass\n")
    status, _, error = run(capsys, "check-layer", f"{tmp_path / 'broken.py'}:Broken")
    assert status == 2 and f"{tmp_path / 'broken.py'}:3: syntax error" in error and "frozen" not in error


def test_a_layer_given_arguments_its_constructor_does_not_take_is_a_usage_error(capsys):
    status, _, error = run(capsys, "check-layer", "minicnn.layers:Dense", "--input-shape", "4",
                           "--args", '{"unit": 3}')
    assert status == 2 and "Dense({\"unit\": 3}) cannot be made" in error and "--args" in error


def test_a_diverging_run_says_so_once_without_numpy_warnings(capsys, tmp_path, small_fashion_mnist):
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # a NumPy floating-point warning would fail the run
        status, _, error = run(capsys, "train", "report-ann", "--epochs", "1", "--lr", "1e6", "--optimizer", "SGD",
                               "--data-dir", data_dir, "--out-dir", str(tmp_path / "run"))
    assert status == 1 and "loss became" in error and "RuntimeWarning" not in error


def test_a_runs_figures_say_what_they_show(capsys, tmp_path, monkeypatch, small_fashion_mnist):
    from minicnn import plots
    titles = {}
    for name in ("plot_confusion_matrix", "plot_history_comparison"):
        real = getattr(plots, name)

        def record(*arguments, real=real, name=name, **settings):
            titles[name] = settings.get("title")
            return real(*arguments, **settings)
        monkeypatch.setattr(plots, name, record)
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    status, _, _ = run(capsys, "train", "report-ann", "--limit", "60", "--epochs", "1", "--data-dir", data_dir,
                       "--out-dir", str(tmp_path / "run"))
    assert status == 0 and re.search(r"\(\d+\.\d\d% of \d+ test images right\)$", titles["plot_confusion_matrix"])
    from minicnn.cli.arguments import example_parser
    from minicnn.lab.comparison import run_comparison
    arguments = example_parser("two", out_dir=str(tmp_path / "two")).parse_args(
        ["--limit", "60", "--epochs", "1", "--data-dir", data_dir])
    run_comparison([("ann", "report-ann", None)], arguments, "A comparison")
    assert titles["plot_history_comparison"] == "A comparison\nquick try on limited data (--limit 60)"


def test_check_layer_on_a_layer_that_overrides_build_names_the_methods_to_override(capsys, tmp_path):
    (tmp_path / "myscale.py").write_text(
        "from minicnn.layers import Layer\n\nclass MyScale(Layer):\n    def build(self, input_shape):\n"
        "        return input_shape\n")
    status, _, error = run(capsys, "check-layer", f"{tmp_path / 'myscale.py'}:MyScale")
    assert status == 2 and error.count("\n") == 1
    assert "MyScale overrides build()" in error and "override create_params(self)" in error


@pytest.mark.parametrize("arguments, message", [
    (["assignment", "make", "all", "--out", "hw", "--seed", "-1"], "argument --seed: expected a whole number >= 0"),
    (["assignment", "grade", "hw", "--budget", "0"], "argument --budget: expected a number > 0, got '0'"),
    (["assignment", "grade", "hw", "--budget", "nan"], "argument --budget: expected a number > 0, got 'nan'"),
])
def test_the_assignment_commands_take_their_seeds_and_budgets_through_the_shared_argument_types(capsys, arguments,
                                                                                                message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(arguments)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in error and error.count("\n") == 1
