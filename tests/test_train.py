"""The training loop: learning, history, callbacks, exact resume after a real Ctrl-C, a real NaN."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from minicnn import backend, cli, layers, optim
from minicnn.model import Sequential
from minicnn.runtime import threads
from minicnn.train import (Checkpoint, EarlyStopping, History, KeepBestWeights, SaveHistory, TrainingDiverged,
                           TrainingPosition, best_epoch_index, evaluate, fit)

TINY_SETUP = textwrap.dedent("""
    import numpy as np
    from minicnn import backend, layers, optim
    from minicnn.model import Sequential

    def tiny_problem():
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, 96)
        x = rng.standard_normal((96, 1, 6, 6)).astype(np.float32) * 0.5
        x[np.arange(96), 0, y, y] += 2.0  # the class is written on the diagonal
        return (x[:64], y[:64]), (x[64:], y[64:])

    def tiny_model():
        return Sequential([layers.Conv2D(4, 3, padding="same"), layers.BatchNorm(), layers.ReLU(),
                           layers.MaxPool2D(), layers.Flatten(), layers.Dropout(0.3), layers.Dense(3)],
                          input_shape=(1, 6, 6), seed=0)

    def noisy_augment(x, rng):
        return x + backend.to_device(rng.standard_normal(x.shape).astype(x.dtype) * 0.01)
""")
namespace = {}
exec(TINY_SETUP, namespace)
tiny_problem, tiny_model, noisy_augment = namespace["tiny_problem"], namespace["tiny_model"], namespace["noisy_augment"]


def weights(model):
    return {key: backend.to_numpy(value).copy() for key, value in model.arrays().items()}


def test_fit_learns_and_records_history(backend_name):
    train, val = tiny_problem()
    model = tiny_model()
    history = fit(model, optim.Adam(model, lr=0.01), train, val, epochs=8, batch_size=16, progress=False)
    assert history["epoch"] == list(range(1, 9))
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert all(seconds > 0 for seconds in history["seconds"])
    assert evaluate(model, *val)[1] == pytest.approx(history["val_accuracy"][-1])


def test_flip_averaged_validation_judges_the_weights_as_a_flip_averaged_test_does():
    train, val = tiny_problem()
    model = tiny_model()
    history = fit(model, optim.Adam(model, lr=0.01), train, val, epochs=2, batch_size=16, progress=False,
                  flip_averaged=True)
    logits = model.predict_logits(val[0], flip_averaged=True)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(logits.argmax(axis=1) == val[1]))
    assert evaluate(model, *val, flip_averaged=True)[1] == pytest.approx(history["val_accuracy"][-1])
    plain_loss = evaluate(model, *val)[0]
    assert evaluate(model, *val, flip_averaged=True)[0] != pytest.approx(plain_loss)
    # evaluate judges the weights as predict does with the same views, shifted ones too
    logits = model.predict_logits(val[0], flip_averaged=True, shift_averaged=1)
    assert evaluate(model, *val, flip_averaged=True, shift_averaged=1)[1] == pytest.approx(
        np.mean(logits.argmax(axis=1) == val[1]))
    assert evaluate(model, *val, flip_averaged=True, shift_averaged=1)[0] != pytest.approx(
        evaluate(model, *val, flip_averaged=True)[0])


def test_flip_averaged_validation_of_a_network_not_given_images_is_refused_before_training():
    model = Sequential([layers.Dense(2)], input_shape=(4,))
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = np.arange(8) % 2
    before = weights(model)
    with pytest.raises(ValueError, match=r"flip and shift averaging mirror and move images \(C, H, W\), "
                                         r"but its input is \(4,\)"):
        fit(model, optim.SGD(model, lr=0.1), (x, y), (x, y), epochs=1, batch_size=4, progress=False,
            flip_averaged=True)
    assert all(np.array_equal(before[key], value) for key, value in weights(model).items())   # no step was taken


def test_history_files(tmp_path):
    history = History()
    history.append(epoch=1, loss=0.5, accuracy=0.8, lr=0.001, seconds=1.5)
    history.save_json(tmp_path / "h.json")
    history.save_csv(tmp_path / "h.csv")
    assert json.loads((tmp_path / "h.json").read_text())["loss"] == [0.5]
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"
    assert lines[1] == "1,0.5,0.8,,,0.001,1.5"


def run_to_the_end(checkpoint=None, resume=False, epochs=4):
    train, val = tiny_problem()
    model = tiny_model()
    optimizer = optim.Adam(model, lr=0.01)
    schedule = optim.CosineAnnealingLR(optimizer, T_max=4)
    callbacks = [KeepBestWeights("val_loss")]
    history = fit(model, optimizer, train, val, epochs=epochs, batch_size=16, schedule=schedule,
                  augment=noisy_augment, callbacks=callbacks,
                  checkpoint=checkpoint and Checkpoint(checkpoint, resume=resume), seed=5,
                  progress=False)
    return model, history


def test_resume_after_a_real_ctrl_c_gives_the_same_numbers(tmp_path):
    checkpoint = str(tmp_path / "checkpoint.npz")
    # a child process that sends itself SIGINT in the middle of epoch 3 (step 2 of 4)
    script = TINY_SETUP + textwrap.dedent(f"""
        import os, signal
        from minicnn.train import fit, KeepBestWeights
        train, val = tiny_problem()
        model = tiny_model()
        optimizer = optim.Adam(model, lr=0.01)
        schedule = optim.CosineAnnealingLR(optimizer, T_max=4)
        def augment_then_interrupt(x, rng):
            if fit_position[0] == (3, 2):
                os.kill(os.getpid(), signal.SIGINT)
            fit_position[0] = (fit_position[0][0] + (fit_position[0][1] == 3), (fit_position[0][1] + 1) % 4)
            return noisy_augment(x, rng)
        fit_position = [(1, 0)]
        fit(model, optimizer, train, val, epochs=4, batch_size=16, schedule=schedule,
            augment=augment_then_interrupt, callbacks=[KeepBestWeights("val_loss")],
            checkpoint={checkpoint!r}, seed=5, progress=True)
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, MINICNN_BACKEND=backend.name))
    assert child.returncode != 0 and "KeyboardInterrupt" in child.stderr, child.stderr
    assert f"interrupted during epoch 3, after step 3 of 4: saved {checkpoint}. Continue with --resume" in child.stderr
    assert "epoch 3 is not finished and goes on from step 4." in child.stderr
    assert "epoch   2" in child.stdout and "epoch   3" not in child.stdout

    resumed_model, resumed_history = run_to_the_end(checkpoint, resume=True)
    straight_model, straight_history = run_to_the_end()
    assert resumed_history == straight_history | {"seconds": resumed_history["seconds"]}
    for key, value in weights(straight_model).items():
        np.testing.assert_array_equal(weights(resumed_model)[key], value, err_msg=key)


def test_resume_from_epoch_checkpoint(tmp_path):
    checkpoint = str(tmp_path / "checkpoint.npz")
    run_to_the_end(checkpoint, epochs=2)                  # stops after epoch 2 ...
    model, history = run_to_the_end(checkpoint, resume=True, epochs=4)   # ... and goes on to 4
    straight_model, straight_history = run_to_the_end(epochs=4)
    assert history["val_loss"] == straight_history["val_loss"]
    for key, value in weights(straight_model).items():
        np.testing.assert_array_equal(weights(model)[key], value, err_msg=key)


def test_a_diverging_run_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path):
    train, val = tiny_problem()
    model = tiny_model()
    optimizer = optim.SGD(model, lr=0.01)
    schedule = optim.ExponentialLR(optimizer, gamma=1e40)  # epoch 2 runs at lr 1e38: the weights overflow
    checkpoint = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingDiverged, match=r"at epoch 2, step \d+ of 4.*checkpoint\.npz") as error, \
            np.errstate(over="ignore", invalid="ignore"):
        fit(model, optimizer, train, val, epochs=3, batch_size=16, schedule=schedule, checkpoint=str(checkpoint),
            progress=False)
    assert "nan" in str(error.value) or "inf" in str(error.value)
    good = Sequential.load(checkpoint)  # the epoch-1 checkpoint is intact and finite
    assert all(np.isfinite(value).all() for value in weights(good).values())


def test_early_stopping_and_best_weights():
    train, val = tiny_problem()
    model = tiny_model()
    keep_best = KeepBestWeights("val_loss")
    history = fit(model, optim.SGD(model, lr=0.0), train, val, epochs=20, batch_size=16,
                  callbacks=[keep_best, EarlyStopping("val_loss", patience=2)], progress=False)
    assert len(history["epoch"]) == 3  # lr 0: nothing improves after epoch 1
    model = tiny_model()
    keep_best = KeepBestWeights("val_loss")
    history = fit(model, optim.Adam(model, lr=0.05), train, val, epochs=6, batch_size=16, callbacks=[keep_best],
                  progress=False)
    best = int(np.argmin(history["val_loss"]))
    assert keep_best.best_epoch == best + 1
    assert evaluate(model, *val)[0] == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_plain_progress_prints_one_line_per_epoch(capsys):
    train, val = tiny_problem()
    model = tiny_model()
    fit(model, optim.Adam(model), train, val, epochs=2, batch_size=32, progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "val_acc" in lines[0]


def test_resume_gives_each_callback_its_own_saved_state(tmp_path):
    train, val = tiny_problem()
    checkpoint = str(tmp_path / "checkpoint.npz")
    model = tiny_model()
    first = [KeepBestWeights("val_loss"), EarlyStopping("val_loss", patience=50)]
    fit(model, optim.Adam(model, lr=0.01), train, val, epochs=2, batch_size=16, callbacks=first,
        checkpoint=checkpoint, progress=False)
    # resumed with the callbacks in another order, plus one watching another value
    model = tiny_model()
    stopping, keep_loss, keep_accuracy = EarlyStopping("val_loss", patience=50), KeepBestWeights("val_loss"), \
        KeepBestWeights("val_accuracy")
    history = fit(model, optim.Adam(model, lr=0.01), train, val, epochs=3, batch_size=16,
                  callbacks=[stopping, keep_accuracy, keep_loss], checkpoint=Checkpoint(checkpoint, resume=True),
                  progress=False)
    assert stopping.best == min(history["val_loss"][:3]) and keep_loss.best == min(history["val_loss"])
    assert keep_accuracy.best_epoch == 3  # saved state was for val_loss only: it starts fresh at epoch 3


def test_bad_optimizer_and_schedule_settings_name_themselves():
    model = Sequential([layers.Dense(3)], input_shape=(4,), seed=0)
    with pytest.raises(TypeError, match="SGD setting nesterov must be True or False, got 'no'"):
        optim.SGD(model, lr=0.1, momentum=0.9, nesterov="no")
    with pytest.raises(TypeError, match=r"RMSprop got unknown settings \['nesterov'\]"):
        optim.RMSprop(model, nesterov=True)
    with pytest.raises(ValueError, match="CosineAnnealingLR T_max must be a whole number of epochs >= 1, got 0"):
        optim.CosineAnnealingLR(optim.SGD(model), T_max=0)
    with pytest.raises(ValueError, match="StepLR step_size must be a whole number of epochs >= 1, got 2.5"):
        optim.StepLR(optim.SGD(model), step_size=2.5)


@pytest.mark.parametrize("callback, message", [
    (EarlyStopping("val_loss"), "EarlyStopping watches val_loss, which needs validation data"),
    (KeepBestWeights("val_accuracy"), "KeepBestWeights watches val_accuracy, which needs validation data"),
    (KeepBestWeights("val_acc"), "KeepBestWeights monitor must be one of loss, accuracy, val_loss, val_accuracy"),
])
def test_a_callback_that_cannot_watch_its_monitor_is_refused_before_training(callback, message):
    train, _ = tiny_problem()
    model = tiny_model()
    before = weights(model)
    with pytest.raises(ValueError, match=message):
        fit(model, optim.SGD(model), train, None, epochs=1, callbacks=[callback], progress=False)
    assert all(np.array_equal(before[key], value) for key, value in weights(model).items())


class CtrlCDuringValidation(EarlyStopping):
    """Presses Ctrl-C (a real SIGINT) at the end of epoch 2, after validation, as a user might."""

    def on_epoch_end(self, logs, model):
        if logs["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return super().on_epoch_end(logs, model)


def test_ctrl_c_after_the_last_step_of_an_epoch_still_stops_the_run(tmp_path, capsys):
    train, val = tiny_problem()
    model = tiny_model()
    checkpoint = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, optim.SGD(model), train, val, epochs=2, batch_size=32, callbacks=[CtrlCDuringValidation()],
            checkpoint=str(checkpoint), progress=False)
    assert f"interrupted after epoch 2: saved {checkpoint}. Continue with --resume (Checkpoint(path, resume=True) " \
        "in fit): training goes on with epoch 3." in capsys.readouterr().err
    history = fit(model, optim.SGD(model), train, val, epochs=3, batch_size=32,
                  checkpoint=Checkpoint(checkpoint, resume=True), progress=False)
    assert history["epoch"] == [1, 2, 3]


def test_a_checkpoint_is_resumed_only_by_its_own_run(tmp_path):
    train, val = tiny_problem()
    checkpoint = str(tmp_path / "checkpoint.npz")
    identity = {"network": "tiny", "recipe": {"lr": 0.1, "hidden": (4, 2)}, "seed": 0}
    model = tiny_model()
    fit(model, optim.SGD(model, lr=0.1), train, val, epochs=1, checkpoint=Checkpoint(checkpoint, identity=identity),
        progress=False)
    model = tiny_model()   # the same identity (its tuple saved as a list) resumes
    history = fit(model, optim.SGD(model, lr=0.1), train, val, epochs=2,
                  checkpoint=Checkpoint(checkpoint, resume=True, identity=dict(identity)), progress=False)
    assert history["epoch"] == [1, 2]
    # a setting that is off counts as left out: a recipe key added since (off) still resumes the run
    model = tiny_model()
    history = fit(model, optim.SGD(model, lr=0.1), train, val, epochs=3,
                  checkpoint=Checkpoint(checkpoint, resume=True, identity=dict(
                      identity, recipe={"lr": 0.1, "hidden": (4, 2), "new_switch": False, "new_setting": None})),
                  progress=False)
    assert history["epoch"] == [1, 2, 3]
    other = dict(identity, recipe={"lr": 0.05, "hidden": (4, 2)}, seed=1)
    model = tiny_model()
    with pytest.raises(ValueError, match=r"checkpoint of another run \(recipe\.lr 0\.1 there, 0\.05 here; "
                                         r"seed 0 there, 1 here\)"):
        fit(model, optim.SGD(model, lr=0.05), train, val, epochs=4,
            checkpoint=Checkpoint(checkpoint, resume=True, identity=other), progress=False)
    # a switch turned on since the checkpoint was made (absent from it) is named as off there
    model = tiny_model()
    with pytest.raises(ValueError, match=r"\(recipe\.flip_averaged off \(not set\) there, True here\)"):
        fit(model, optim.SGD(model, lr=0.1), train, val, epochs=4, progress=False,
            checkpoint=Checkpoint(checkpoint, resume=True, identity=dict(
                identity, recipe={"lr": 0.1, "hidden": (4, 2), "flip_averaged": True})))


class HistoryReader(EarlyStopping):
    """Looks at history.json on disk at the end of every epoch, before the loop writes that epoch's own,
    as `minicnn curves` would on a run in progress."""

    def __init__(self, directory):
        super().__init__("loss", patience=100)
        self.directory, self.seen = directory, []

    def on_epoch_end(self, logs, model):
        path = self.directory / "history.json"
        self.seen.append(json.loads(path.read_text())["epoch"] if path.exists() else None)
        if logs["epoch"] == 2:
            assert cli.main(["curves", str(self.directory), "--out", str(self.directory / "now.png")]) == 0
        return super().on_epoch_end(logs, model)


def test_the_history_is_written_after_every_epoch(tmp_path):
    train, val = tiny_problem()
    model = tiny_model()
    reader = HistoryReader(tmp_path)
    fit(model, optim.Adam(model), train, val, epochs=3, batch_size=32, callbacks=[reader, SaveHistory(tmp_path)],
        progress=False)
    assert reader.seen == [None, [1], [1, 2]]
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
    assert (tmp_path / "now.png").stat().st_size > 0
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")], "written atomically"


def test_resuming_says_where_it_resumes(tmp_path, capsys):
    train, val = tiny_problem()
    checkpoint = str(tmp_path / "checkpoint.npz")
    model = tiny_model()
    fit(model, optim.Adam(model), train, val, epochs=2, batch_size=32, checkpoint=checkpoint, progress=False)
    model = tiny_model()
    fit(model, optim.Adam(model), train, val, epochs=3, batch_size=32, checkpoint=Checkpoint(checkpoint, resume=True))
    assert capsys.readouterr().out.startswith(
        f"resuming {checkpoint}, saved after epoch 2: training goes on with epoch 3 of 3\n")


def test_a_run_resumed_mid_epoch_counts_its_epochs_not_its_steps_against_the_total():
    # the total is of epochs: "from step 233 of 60" read as if the epoch had 60 steps
    assert TrainingPosition(epoch=49, step=232).what_comes_next(60) == \
        "epoch 49 of 60 is not finished and goes on from step 233"
    assert TrainingPosition(epoch=5, step=0).what_comes_next(30) == "training goes on with epoch 5 of 30"
    assert TrainingPosition(epoch=3, step=3).what_comes_next() == "epoch 3 is not finished and goes on from step 4"


def test_a_run_that_stopped_early_stays_stopped_when_resumed(tmp_path):
    train, val = tiny_problem()
    checkpoint = str(tmp_path / "checkpoint.npz")
    model = tiny_model()
    stopped = fit(model, optim.SGD(model, lr=0.0), train, val, epochs=20, batch_size=16, checkpoint=checkpoint,
                  callbacks=[EarlyStopping("val_loss", patience=2)], progress=False)
    model = tiny_model()
    resumed = fit(model, optim.SGD(model, lr=0.0), train, val, epochs=20, batch_size=16,
                  checkpoint=Checkpoint(checkpoint, resume=True),
                  callbacks=[EarlyStopping("val_loss", patience=2)], progress=False)
    assert resumed["epoch"] == stopped["epoch"] == [1, 2, 3]


class DoubleCtrlC:
    """Augmentation that presses Ctrl-C twice in the first step of ``epoch``: a user who will not wait."""

    def __init__(self, epoch):
        self.epoch, self.calls = epoch, 0

    def __call__(self, x, rng):
        self.calls += 1
        if self.calls == 4 * (self.epoch - 1) + 1:   # 4 steps an epoch with batch 16
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return x


@pytest.mark.parametrize("epoch, survived", [(2, "holds the run after epoch 1"), (1, None)])
def test_a_second_ctrl_c_says_whether_a_checkpoint_survived(tmp_path, capsys, epoch, survived):
    train, val = tiny_problem()
    model = tiny_model()
    checkpoint = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(model, optim.SGD(model), train, val, epochs=3, batch_size=16, augment=DoubleCtrlC(epoch),
            checkpoint=str(checkpoint), progress=False)
    error = capsys.readouterr().err
    assert "interrupted again: stopped at once, inside a step." in error
    if survived:
        assert f"{checkpoint} is whole and {survived}; --resume continues from there" in error
        model = tiny_model()
        history = fit(model, optim.SGD(model), train, val, epochs=2, batch_size=16,
                      checkpoint=Checkpoint(checkpoint, resume=True), progress=False)
        assert history["epoch"] == [1, 2]
    else:
        assert "No checkpoint was saved: the run starts over" in error and not checkpoint.exists()


def test_the_best_epoch_is_the_first_of_the_best_and_never_a_diverged_one():
    assert best_epoch_index([0.5, 0.7, 0.7, 0.6], "val_accuracy") == 1
    assert best_epoch_index([0.5, 0.3, 0.3, float("nan")], "val_loss") == 1
    assert best_epoch_index([float("nan"), float("nan")], "val_loss") is None
    assert best_epoch_index([], "val_accuracy") is None


def test_the_keywords_of_the_earlier_release_still_work_with_a_warning(tmp_path):
    train, val = tiny_problem()
    checkpoint = str(tmp_path / "checkpoint.npz")
    model = tiny_model()
    fit(model, optim.SGD(model, lr=0.1), train, val, epochs=1, checkpoint=checkpoint, progress=False)
    model = tiny_model()
    with pytest.warns(FutureWarning, match="fit\\(\\)'s history_dir, identity, resume go in the next release"):
        history = fit(model, optim.SGD(model, lr=0.1), train, val, epochs=2, checkpoint=checkpoint, resume=True,
                      identity={"seed": 0}, history_dir=tmp_path, progress=False)
    assert history["epoch"] == [1, 2]
    assert json.loads((tmp_path / "history.json").read_text())["epoch"] == [1, 2]
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        fit(model, optim.SGD(model), train, val, epoch=3)


class CountsItsCalls:
    """A callback with every hook of minicnn.train.Callback, written without the base class."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, model, history):
        self.calls.append(("begin", list(history["epoch"])))

    def on_epoch_end(self, logs, model):
        self.calls.append(("epoch", logs["epoch"]))
        return False

    def on_train_end(self, model):
        self.calls.append(("end", None))


def test_every_callback_hook_is_called_in_order():
    train, val = tiny_problem()
    model = tiny_model()
    callback = CountsItsCalls()
    fit(model, optim.SGD(model), train, val, epochs=2, batch_size=32, callbacks=[callback], progress=False)
    assert callback.calls == [("begin", []), ("epoch", 1), ("epoch", 2), ("end", None)]


def test_a_diverging_run_on_two_threads_raises_no_numpy_warning_from_the_workers():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((512, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 512)
    model = Sequential([layers.Conv2D(64, 3), layers.ReLU(), layers.MaxPool2D(), layers.Flatten(), layers.Dense(10)],
                       seed=0)
    previous = threads.thread_count()
    threads.set_threads(2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)   # one from a worker thread would surface here
            with pytest.raises(TrainingDiverged):
                fit(model, optim.SGD(model, lr=1e12), (x, y), None, epochs=3, batch_size=256, progress=False)
    finally:
        threads.set_threads(previous)
