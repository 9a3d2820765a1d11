"""The flagship example end to end on the real data: a quick --limit run writes every promised file."""
import json
import os
import runpy
import subprocess
import sys

import pytest

from minicnn import data
from minicnn.cli.arguments import example_parser
from minicnn.lab.comparison import comparison_out_dir
from minicnn.lab.recipes import RecipeError

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def real_data_or_skip():
    try:
        data.load_fashion_mnist(download=False)
    except FileNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not installed here: {error}")


def run_example(name, *arguments, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name] + list(arguments))
    module = runpy.run_path(os.path.join(EXAMPLES, name), run_name="example")
    return module["main"](list(arguments))


def test_flagship_quick_run_writes_report_and_figures(tmp_path, monkeypatch, capsys):
    real_data_or_skip()
    out_dir = tmp_path / "run"
    assert run_example("enhanced_cnn.py", "--limit", "600", "--epochs", "2", "--augment", "--schedule", "cosine",
                       "--out-dir", str(out_dir), monkeypatch=monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "Trainable params: 422,474" in printed and "Non-trainable params: 448" in printed
    assert "epoch   2" in printed and "test accuracy" in printed
    for name in ("config.json", "history.json", "history.csv", "model.npz", "report.txt", "curves.png",
                 "confusion.png", "misclassified.png", "checkpoint.npz"):
        assert (out_dir / name).stat().st_size > 0, name
    config = json.loads((out_dir / "config.json").read_text())
    assert config["epochs_run"] == 2 and 0.0 <= config["test_accuracy"] <= 1.0
    assert config["command"].startswith("python enhanced_cnn.py --limit 600")
    assert config["augment_config"]["horizontal_flip"] is True
    # cosine over 2 epochs: full rate, then half way down to 0
    assert json.loads((out_dir / "history.json").read_text())["lr"] == pytest.approx([1e-3, 5e-4])
    report = (out_dir / "report.txt").read_text()
    assert "Ankle boot" in report and "macro avg" in report
    assert report.count("onfusion matrix (rows: true class, columns: predicted class)") == 1

    # --resume with more epochs would change the cosine schedule under a run half-annealed: refused, named
    with pytest.raises(RecipeError, match="is a run of 2 epochs whose learning rate is cosine-annealed over those 2"):
        run_example("enhanced_cnn.py", "--limit", "600", "--epochs", "3", "--augment", "--schedule", "cosine",
                    "--resume", "--out-dir", str(out_dir), monkeypatch=monkeypatch)


def test_the_readme_quick_try_and_the_flagship_keep_their_own_folders(tmp_path, monkeypatch, capsys,
                                                                      small_fashion_mnist):
    flagship = tmp_path / "runs" / "awasthi-enhanced-cnn"
    flagship.mkdir(parents=True)
    (flagship / "checkpoint.npz").write_bytes(b"the flagship, 40 epochs in")
    monkeypatch.chdir(tmp_path)
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    # the README's quick try, on small data
    assert run_example("enhanced_cnn.py", "--limit", "60", "--epochs", "1", "--batch-size", "64",
                       "--data-dir", data_dir, monkeypatch=monkeypatch) == 0
    assert "report and figures in runs/awasthi-enhanced-cnn-limit60-batch_size64-epochs1/" in capsys.readouterr().out
    assert (flagship / "checkpoint.npz").read_bytes() == b"the flagship, 40 epochs in"
    # a comparison's quick try too
    parser = example_parser("a comparison", out_dir="runs/miniproject")
    assert comparison_out_dir(parser.parse_args(["--limit", "60", "--epochs", "1"])) == \
        "runs/miniproject-limit60-epochs1"
    assert comparison_out_dir(parser.parse_args([])) == "runs/miniproject"


def test_the_flagship_example_and_minicnn_reproduce_share_one_run_folder(tmp_path, monkeypatch, capsys,
                                                                          small_fashion_mnist):
    from minicnn import cli
    monkeypatch.chdir(tmp_path)
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    quick = ["--limit", "60", "--epochs", "1", "--data-dir", data_dir]
    assert cli.main(["reproduce", "awasthi-enhanced-cnn"] + quick) == 0
    capsys.readouterr()
    # the example finds the command's run, and the command the example's: one recipe, one folder
    assert run_example("enhanced_cnn.py", *quick, "--resume", monkeypatch=monkeypatch) == 0
    assert "runs/awasthi-enhanced-cnn-limit60-epochs1 holds a finished run" in capsys.readouterr().out


def test_the_flagship_can_keep_and_stop_on_the_validation_loss(tmp_path, monkeypatch, capsys, small_fashion_mnist):
    monkeypatch.chdir(tmp_path)
    data_dir = str(small_fashion_mnist(tmp_path / "data"))
    assert run_example("enhanced_cnn.py", "--limit", "60", "--epochs", "4", "--batch-size", "32", "--lr", "0.3",
                       "--monitor", "val_loss", "--patience", "1", "--data-dir", data_dir,
                       monkeypatch=monkeypatch) == 0
    (out_dir,) = (tmp_path / "runs").iterdir()
    assert f"report and figures in runs/{out_dir.name}/" in capsys.readouterr().out
    config = json.loads((out_dir / "config.json").read_text())
    assert config["recipe"]["keep_best"] == "val_loss"
    assert config["recipe"]["early_stopping"] == {"monitor": "val_loss", "patience": 1}
    losses = json.loads((out_dir / "history.json").read_text())["val_loss"]
    # kept: the epoch of the lowest validation loss; stopped: one epoch after it stopped falling
    assert config["best_epoch"] == losses.index(min(losses)) + 1
    assert config["epochs_run"] == 4 or min(losses[:-1]) <= losses[-1]


def test_the_flagship_refuses_a_negative_patience(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_example("enhanced_cnn.py", "--patience", "-1", monkeypatch=monkeypatch)
    assert exit_info.value.code == 2
    assert "argument --patience: expected a whole number >= 0, got '-1'" in capsys.readouterr().err


def test_an_example_reports_a_mistake_in_one_line(tmp_path):
    # a directory that holds a run: refused before any data is read, as the `minicnn` command would
    (tmp_path / "band-cnn").mkdir()
    (tmp_path / "band-cnn" / "config.json").write_text("{}")
    finished = subprocess.run([sys.executable, os.path.join(EXAMPLES, "band_et_al_cnn.py"), "--out-dir",
                               str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.startswith(f"band_et_al_cnn.py: error: {tmp_path / 'band-cnn'} already holds a run")
    assert finished.stderr.count("\n") == 1
