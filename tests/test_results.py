"""`minicnn results`: the results table is made from the runs' own config.json files."""
import json

from minicnn import cli
from minicnn.lab.comparison import comparison_table
from minicnn.lab.recipes import recipe_for
from minicnn.lab import results, zoo


def write_run(directory, **config):
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config))


def test_table_groups_seeds_and_reports_mean_and_spread(tmp_path, capsys):
    common = {"network": "report-ann", "parameters": [235146, 0], "epochs_run": 10, "train_seconds_total": 60.0}
    write_run(tmp_path / "a", seed=0, test_accuracy=0.88, command="minicnn reproduce report-ann --seed 0", **common)
    write_run(tmp_path / "b", seed=1, test_accuracy=0.86, command="minicnn reproduce report-ann --seed 1", **common)
    write_run(tmp_path / "unfinished", network="report-cnn", seed=0)  # no test accuracy: not a finished run
    assert cli.main(["results", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| report")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == "235,146 + 0 (235,146 + 0)"
    assert cells[2] == "85.00% (test)"
    assert cells[3] == "87.00% ± 1.41"   # mean of 88 and 86, sample standard deviation sqrt(2)
    assert cells[4] == "not recorded"   # these runs left no history.json
    assert cells[5] == "2" and cells[6] == "0, 1"   # a count of runs, then which seeds
    assert cells[7] == "10" and cells[8] == "1.0"
    assert cells[9] == "`minicnn reproduce report-ann --seed S`"
    assert "| runs | seeds |" in results.HEADER


def test_the_validation_column_is_the_tested_epochs_the_kept_one_or_the_last(tmp_path):
    history = {"epoch": [1, 2, 3], "val_accuracy": [0.80, 0.90, 0.85]}
    common = {"network": "report-ann", "parameters": [235146, 0], "epochs_run": 3, "train_seconds_total": 60.0,
              "command": "minicnn reproduce report-ann", "test_accuracy": 0.88, "seed": 0}
    zoos = zoo.NETWORKS["report-ann"].recipe
    assert not zoos.get("keep_best")
    write_run(tmp_path / "kept", recipe=dict(zoos, keep_best="val_loss"), best_epoch=1, **common)
    write_run(tmp_path / "last", recipe=zoos, best_epoch=2, **common)
    # judged once more after training, as its test was (shift-averaged): that figure, not the epoch's
    write_run(tmp_path / "judged", recipe=dict(zoos, keep_best="val_loss", shift_averaged=1), best_epoch=1,
              val_accuracy_as_tested=0.8125, **common)
    for name in ("kept", "last", "judged"):
        (tmp_path / name / "history.json").write_text(json.dumps(history))
    rows = results.results_table([tmp_path]).splitlines()[2:]
    validation = {row.split("|")[1].strip(): row.split("|")[5].strip() for row in rows}
    # a shift_averaged of 0 is off, as a missing one is: the same recipe, so the same row
    assert recipe_for("report-ann", {"shift_averaged": 0})["shift_averaged"] is None
    assert validation == {"report-ann (keep_best=\"val_loss\")": "80.00% (1 seed)",   # the kept epoch 1
                          "report-ann": "85.00% (1 seed)",   # no weights kept: the last epoch's, not the best one's
                          "report-ann (keep_best=\"val_loss\", shift_averaged=1)": "81.25% (1 seed)"}


def test_a_run_on_limited_data_is_left_out_unless_asked_and_then_marked(tmp_path, capsys):
    common = {"network": "report-ann", "parameters": [235146, 0], "epochs_run": 10, "train_seconds_total": 60.0,
              "command": "minicnn reproduce report-ann"}
    write_run(tmp_path / "paper", seed=0, test_accuracy=0.88, **common)
    write_run(tmp_path / "quick", seed=0, test_accuracy=0.70, limit=1000, **common)
    assert cli.main(["results", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| report")]
    assert len(rows) == 1 and "88.00%" in rows[0] and "70.00%" not in rows[0]
    assert cli.main(["results", str(tmp_path), "--include-limited"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| report")]
    assert [row.split("|")[1].strip() for row in rows] == ["report-ann", "report-ann (limit=1,000 images)"]
    assert "70.00% (1 seed)" in rows[1], "never averaged with the run on all the data"
    (tmp_path / "paper" / "config.json").unlink()
    assert cli.main(["results", str(tmp_path)]) == 2
    assert "the runs there are on limited data (--limit): --include-limited shows them" in capsys.readouterr().err


def test_a_comparison_marks_a_quick_try():
    result = {"label": "ann", "name": "report-ann", "parameters": [235146, 0], "best_val_accuracy": 0.7,
              "test_accuracy": 0.7, "epochs_run": 1, "minutes": 0.1}
    table = comparison_table([dict(result, limit=600)])
    assert table.startswith("A quick try on limited data (--limit 600") and "| 70.00% (--limit 600) |" in table
    assert "quick try" not in comparison_table([dict(result, limit=None)])


def test_general_command_drops_the_output_directory_and_resume_and_generalises_the_seed():
    assert (results.general_command("minicnn reproduce band-cnn --seed 2 --out-dir runs/x/seed2 --limit 5")
            == "minicnn reproduce band-cnn --seed S --limit 5")
    assert (results.general_command("minicnn reproduce band-cnn --seed=2 --resume --out-dir=runs/x --resume-note")
            == "minicnn reproduce band-cnn --seed S --resume-note")


def test_one_seed_says_so():
    assert results.mean_and_spread([0.9312]) == "93.12% (1 seed)"


def test_no_runs_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["results", str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err
    assert cli.main(["results", str(tmp_path / "runz")]) == 2
    assert f"no such directory: {tmp_path / 'runz'}" in capsys.readouterr().err


def test_parameters_come_from_the_saved_model_when_the_config_lacks_them(tmp_path):
    from minicnn.lab import zoo
    write_run(tmp_path / "run", network="saraswat-cnn", seed=0, test_accuracy=0.9, epochs_run=1)
    zoo.build("saraswat-cnn").save(tmp_path / "run" / "model.npz")
    assert "262,890 + 224 (262,890 + 224)" in results.results_table([str(tmp_path)])


def test_runs_of_different_recipes_get_their_own_rows_named_by_what_changed(tmp_path):
    paper = {"optimizer": "Adam", "lr": 0.001, "batch_size": 64, "epochs": 20, "val_fraction": 0.2}  # band-cnn's
    common = {"network": "band-cnn", "parameters": [786122, 0], "epochs_run": 20,
              "command": "minicnn reproduce band-cnn"}
    # as older runs stored the recipe (defaults left out) and as newer ones do (defaults and "off" spelt out)
    write_run(tmp_path / "paper0", seed=0, test_accuracy=0.90, recipe=paper, **common)
    write_run(tmp_path / "paper1", seed=1, test_accuracy=0.92, recipe=dict(paper, batch_norm="pytorch", augment=None),
              **common)
    write_run(tmp_path / "flip", seed=0, test_accuracy=0.95, recipe=dict(paper, augment={"horizontal_flip": True}),
              **common)
    write_run(tmp_path / "lr", seed=0, test_accuracy=0.80, recipe=dict(paper, lr=0.01, keep_best="val_loss"), **common)
    rows = [line.split("|")[1:5] for line in results.results_table([str(tmp_path)]).splitlines()[2:]]
    assert [(label.strip(), accuracy.strip()) for label, _, _, accuracy in rows] == [
        ("band-cnn", "91.00% ± 1.41"),
        ('band-cnn (augment={"horizontal_flip": true})', "95.00% (1 seed)"),
        ('band-cnn (keep_best="val_loss", lr=0.01)', "80.00% (1 seed)")]


def test_a_broken_config_is_named(capsys, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{'network': 'band-cnn'}")
    assert cli.main(["results", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert f"{tmp_path / 'run' / 'config.json'}: not valid JSON (Expecting property name" in error


def test_a_broken_history_or_a_kept_epoch_it_lacks_is_named(capsys, tmp_path):
    write_run(tmp_path / "run", network="report-ann", seed=0, test_accuracy=0.88, best_epoch=5,
              recipe=dict(zoo.NETWORKS["report-ann"].recipe, keep_best="val_accuracy"))
    history = tmp_path / "run" / "history.json"
    history.write_text("{'epoch': [1]}")
    assert cli.main(["results", str(tmp_path)]) == 1
    assert f"{history}: not valid JSON (Expecting property name" in capsys.readouterr().err
    history.write_text(json.dumps({"epoch": [1, 2], "val_accuracy": [0.8, 0.9]}))
    assert cli.main(["results", str(tmp_path)]) == 1
    assert f"{history}: has no epoch 5, the kept epoch (best_epoch) its config.json names" in capsys.readouterr().err
