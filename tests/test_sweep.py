"""minicnn sweep: reading a grid, and running one with joblib here and on a Dask cluster."""
import csv
import json
import sys

import pytest

from minicnn import cli
from minicnn.lab import sweep

TINY_GRID = ["sweep", "saraswat-pca-dnn", "--grid", "hidden=64,64-32", "--limit", "300", "--epochs", "1"]


def test_the_papers_grid_is_the_cartesian_product_with_linked_optimizer_and_learning_rate():
    configurations = sweep.parse_grid(["hidden=64,64-32", "optimizer=Adam:1e-3,RMSprop:1e-2", "batch_size=32,64"],
                                      epochs=30)
    assert len(configurations) == 8
    assert {"hidden": [64, 32], "optimizer": "RMSprop", "lr": 0.01, "batch_size": 64, "epochs": 30} in configurations
    assert {(entry["optimizer"], entry["lr"]) for entry in configurations} == {("Adam", 1e-3), ("RMSprop", 1e-2)}


def test_values_are_read_as_numbers_booleans_json_or_text():
    assert sweep.parse_grid(["hidden=64", "hidden=64-32"]) == [{"hidden": [64]}, {"hidden": [64, 32]}]
    assert sweep.parse_grid(["lr=1e-3,0.01", "epochs=2"], epochs=5) == [{"lr": 0.001, "epochs": 2},
                                                                        {"lr": 0.01, "epochs": 2}]
    assert sweep.parse_grid(['augment={"pad_crop": 2, "horizontal_flip": true},none', "standardize=true"]) == [
        {"augment": {"pad_crop": 2, "horizontal_flip": True}, "standardize": True},
        {"augment": None, "standardize": True}]
    assert sweep.parse_grid(["optimizer=AdamW"]) == [{"optimizer": "AdamW"}]


@pytest.mark.parametrize("entry", ["lr", "lr=", "=1", "lr=1,,2", "learning_rate=1", "hidden=64-x",
                                   "optimizer=Adam:fast"])
def test_a_malformed_entry_says_what_is_expected(entry):
    with pytest.raises(sweep.SweepError, match="expected|not a recipe key"):
        sweep.parse_grid([entry])


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def check_rows(rows):
    """One row per configuration of TINY_GRID, best validation accuracy first."""
    assert sorted(row["hidden"] for row in rows) == ["64", "64-32"]
    accuracies = [float(row["val_accuracy"]) for row in rows]
    assert all(0.0 <= accuracy <= 1.0 for accuracy in accuracies) and accuracies == sorted(accuracies, reverse=True)
    assert all(row["epochs_run"] == "1" and row["seed"] == "0" and row["limit"] == "300" for row in rows)
    assert "test_accuracy" not in rows[0], "configurations are chosen on validation: none is tested"


def test_a_grid_runs_in_parallel_with_joblib(capsys, tmp_path, fashion_mnist_installed):
    out = tmp_path / "grid.csv"
    assert cli.main(TINY_GRID + ["--jobs", "2", "--out", str(out)]) == 0
    check_rows(read_rows(out))
    printed = capsys.readouterr().out
    assert "2 configurations, 2 at a time" in printed and "val_accuracy" in printed


def test_a_grid_runs_on_a_dask_cluster(capsys, tmp_path, fashion_mnist_installed):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "grid.csv"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert cli.main(TINY_GRID + ["--dask", cluster.scheduler_address, "--out", str(out)]) == 0
    check_rows(read_rows(out))
    assert "on the Dask cluster at tcp://" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverging_configuration_is_a_row_not_the_end_of_the_grid(capsys, tmp_path, fashion_mnist_installed):
    out = tmp_path / "grid.csv"
    assert cli.main(["sweep", "saraswat-pca-dnn", "--grid", "optimizer=SGD:0.1,SGD:1e12", "--limit", "200",
                     "--epochs", "2", "--out", str(out)]) == 0
    good, diverged = read_rows(out)
    assert good["lr"] == "0.1" and 0.0 <= float(good["val_accuracy"]) <= 1.0 and good["failure"] == ""
    assert diverged["lr"] == "1000000000000.0" and diverged["val_accuracy"] == ""
    assert diverged["failure"].startswith("loss became")


def test_a_missing_optional_package_is_named_with_its_install_command(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "joblib", None)   # what an install without the examples' extra looks like
    assert cli.main(TINY_GRID) == 1
    error = capsys.readouterr().err
    assert error == "minicnn sweep: error: this needs joblib, which is not installed: pip install 'minicnn[examples]'\n"


def test_a_shift_averaged_configuration_is_ranked_by_its_kept_weights_judged_as_its_test(monkeypatch):
    result = {"best_val_accuracy": 0.90, "val_accuracy_as_tested": 0.92, "test_accuracy": 0.91, "epochs_run": 3,
              "minutes": 1.0}
    monkeypatch.setattr(sweep, "run_experiment", lambda *arguments, **settings: result)
    assert sweep.run_configuration("band-cnn", {"shift_averaged": 1}, {})["val_accuracy"] == 0.92
    result["val_accuracy_as_tested"] = None   # no shift_averaged: the best epoch's figure, as before
    assert sweep.run_configuration("band-cnn", {}, {})["val_accuracy"] == 0.90


def test_a_sweep_never_replaces_an_earlier_one_unasked_and_tests_only_the_best_once(capsys, tmp_path,
                                                                                    fashion_mnist_installed):
    out = tmp_path / "grid.csv"
    assert cli.main(TINY_GRID + ["--out", str(out)]) == 0
    before = out.read_text()
    assert cli.main(TINY_GRID[:4] + ["--limit", "300", "--epochs", "1", "--out", str(out)]) == 2
    assert f"{out} holds an earlier sweep: give --overwrite to replace it" in capsys.readouterr().err
    assert out.read_text() == before
    best_dir = tmp_path / "best"
    assert cli.main(TINY_GRID + ["--out", str(out), "--overwrite", "--test-best", str(best_dir)]) == 0
    printed = capsys.readouterr().out
    rows = read_rows(out)
    assert "the best configuration" in printed and printed.count("test accuracy") == 1
    config = json.loads((best_dir / "config.json").read_text())
    assert config["recipe"]["hidden"] == [int(width) for width in rows[0]["hidden"].split("-")]
    assert config["best_val_accuracy"] == pytest.approx(float(rows[0]["val_accuracy"]))
