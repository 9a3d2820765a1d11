"""The training loop: fit() with validation, history, callbacks, checkpoints, exact resume and progress.

    history = fit(model, optimizer, (x_train, y_train), (x_val, y_val), epochs=10, batch_size=64,
                  callbacks=[KeepBestWeights(), SaveHistory("runs/mine")],
                  checkpoint=Checkpoint("runs/mine/checkpoint.npz", resume=True))

Every random draw of a run is reproducible from the seed alone: epoch e
shuffles with Generator((seed, e)), batch s of it augments with
Generator((seed, e, s)), and dropout draws from the model's own Generator,
whose state goes into every checkpoint. So a run resumed from a checkpoint
(written after each epoch, or at Ctrl-C mid-epoch) produces exactly the
numbers an uninterrupted run would have.
"""
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np

from minicnn import backend
from minicnn.data.files import atomic_write, npz_fault, read_npz
from minicnn.losses import SoftmaxCrossEntropy

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")   # what every epoch's logs hold: what a callback can watch


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint was left as it was."""


class History(dict):
    """Per-epoch lists: epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds."""

    def __init__(self, data=None):
        super().__init__({key: list((data or {}).get(key, [])) for key in HISTORY_KEYS})

    def append(self, **values):
        for key in HISTORY_KEYS:
            self[key].append(values.get(key))

    def save_json(self, path):
        with atomic_write(path, "w") as file:
            json.dump(self, file, indent=1)

    def save_csv(self, path):
        with atomic_write(path, "w") as file:
            file.write(",".join(HISTORY_KEYS) + "\n")
            for row in zip(*(self[key] for key in HISTORY_KEYS)):
                file.write(",".join("" if value is None else repr(value) for value in row) + "\n")


class Callback:
    """What fit() calls as training goes; a callback overrides the methods it needs.

    - on_train_begin(model, history): before the first epoch (the History holds the resumed epochs).
    - on_epoch_end(logs, model) -> bool: after each epoch's validation, with that epoch's logs
      (MONITORS, epoch, lr, seconds); True stops training.
    - on_train_end(model): after the last epoch.
    - state() -> (values, arrays) and load_state(values, arrays): what a checkpoint keeps of it.
    ``monitor``, when set, names the logged value it watches (one of MONITORS).
    """
    monitor = None

    def on_train_begin(self, model, history):
        pass

    def on_epoch_end(self, logs, model):
        return False

    def on_train_end(self, model):
        pass

    def state(self):
        return {}, {}

    def load_state(self, values, arrays):
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.best, self.waited = None, 0

    def on_epoch_end(self, logs, model):
        value = logs[self.monitor]
        if self.best is None or improved(self.monitor, value, self.best, self.min_delta):
            self.best, self.waited = value, 0
        else:
            self.waited += 1
        return self.waited >= self.patience

    def state(self):
        return {"best": self.best, "waited": self.waited}, {}

    def load_state(self, values, arrays):
        self.best, self.waited = values["best"], values["waited"]


class KeepBestWeights(Callback):
    """Remember the weights of the best epoch by ``monitor``; they are put back when training ends."""

    def __init__(self, monitor="val_accuracy"):
        self.monitor = monitor
        self.best, self.best_epoch, self.weights = None, None, None

    def on_epoch_end(self, logs, model):
        value = logs[self.monitor]
        if self.best is None or improved(self.monitor, value, self.best):
            self.best, self.best_epoch = value, logs["epoch"]
            self.weights = {key: backend.to_numpy(array).copy() for key, array in model.arrays().items()}
        return False

    def on_train_end(self, model):
        self.restore(model)

    def restore(self, model):
        if self.weights is not None:
            model.load_arrays(self.weights, source=f"best weights of epoch {self.best_epoch}")

    def state(self):
        return {"best": self.best, "best_epoch": self.best_epoch}, dict(self.weights or {})

    def load_state(self, values, arrays):
        self.best, self.best_epoch = values["best"], values["best_epoch"]
        self.weights = dict(arrays) or None


class SaveHistory(Callback):
    """Write history.json and history.csv into ``directory`` after every epoch (atomically), so that a run in
    progress can be looked at (`minicnn curves`)."""

    def __init__(self, directory):
        self.directory = directory

    def on_train_begin(self, model, history):
        self.history = history

    def on_epoch_end(self, logs, model):
        self.history.save_json(os.path.join(self.directory, "history.json"))
        self.history.save_csv(os.path.join(self.directory, "history.csv"))
        return False


def lower_is_better(monitor):
    """True for a loss, False for an accuracy."""
    return "loss" in monitor


def improved(monitor, value, best, min_delta=0.0):
    """Whether ``value`` beats ``best`` by more than ``min_delta``: lower is better for losses, higher for
    everything else."""
    return value < best - min_delta if lower_is_better(monitor) else value > best + min_delta


def best_epoch_index(values, monitor):
    """The 0-based index of the best of one value per epoch (the lowest loss, the highest accuracy; the
    first of equals, as KeepBestWeights keeps it), or None when there is none or every value is NaN
    (a diverged run)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).all():
        return None
    return int(np.nanargmin(values) if lower_is_better(monitor) else np.nanargmax(values))


def evaluate(model, x, y, batch_size=512, loss=None, flip_averaged=False, shift_averaged=0):
    """(mean loss, accuracy) of ``model`` in inference mode on host arrays x (N, ...), y (N,); with
    ``flip_averaged`` or ``shift_averaged``, of the logits averaged over each image, its mirror image and
    its moved copies (test-time augmentation: Sequential.forward_averaged).

    The sums stay on the device until the last batch: one copy to the host in all.
    """
    loss = loss or SoftmaxCrossEntropy()
    totals = EpochTotals(math.ceil(len(x) / batch_size))
    for start in range(0, len(x), batch_size):
        logits = model.forward_averaged(x[start:start + batch_size], flip_averaged, shift_averaged)
        totals.record(loss.forward_array(logits, y[start:start + batch_size]), logits, loss.labels)
    loss_sum, correct, seen, _ = totals.read()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


class EpochTotals:
    """Each step's mean loss and number of correct predictions, kept on the active backend until they are read.

    Recording a step copies its loss and its correct count into one preallocated
    (steps, 2) array: a few small kernels on a GPU and no copy to the host, so
    the steps queue up without waiting for the GPU. ``read()`` brings the array
    over in one copy, at the end of the epoch (or at Ctrl-C, or for a progress
    bar, at most once a second). The loss sum is then added up on the host in
    float64, step by step, so a resumed epoch adds exactly what an uninterrupted one adds.

    - steps: how many steps will be recorded at most.
    - first_step: the epoch's step the first record belongs to (> 0 when resuming mid-epoch).
    - sums: (loss sum, correct, seen) of the epoch's earlier steps, from a checkpoint.
    """

    def __init__(self, steps, first_step=0, sums=(0.0, 0, 0)):
        self.values = backend.xp.zeros((max(steps, 1), 2), dtype=backend.xp.float64)
        self.first_step = first_step
        self.earlier = (float(sums[0]), int(sums[1]), int(sums[2]))
        self.sizes = []   # host ints: a batch's size is known without asking the device

    def record(self, batch_loss, logits, labels):
        """Add one step: its mean loss (a 0-d array), its logits (N, K) and its labels (N,), all on the device."""
        row = len(self.sizes)
        self.values[row, 0] = batch_loss
        self.values[row, 1] = (logits.argmax(axis=1) == labels).sum()
        self.sizes.append(len(labels))

    def read(self):
        """(loss sum, correct, seen, first_bad) over the earlier and the recorded steps, in one copy from the device.

        first_bad is None, or (step, loss) for the first recorded step (1-based) whose loss was not finite.
        """
        loss_sum, correct, seen = self.earlier
        first_bad = None
        recorded = backend.to_numpy(self.values[:len(self.sizes)]).tolist()
        for row, ((batch_loss, batch_correct), size) in enumerate(zip(recorded, self.sizes)):
            if first_bad is None and not math.isfinite(batch_loss):
                first_bad = (self.first_step + row + 1, batch_loss)
            loss_sum += batch_loss * size
            correct += int(batch_correct)
            seen += size
        return loss_sum, correct, seen, first_bad


class Progress:
    """A tqdm bar per epoch on a terminal; otherwise (a log file, CI) one plain line per epoch."""

    def __init__(self, enabled, total_steps, epoch, epochs):
        self.bar = None
        self.enabled = enabled
        self.shown = -math.inf   # when the bar's loss and accuracy were last read
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total_steps, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False)
            except ImportError:
                pass

    def update(self, steps_done, totals):
        """Move the bar to ``steps_done``; its loss and accuracy (``totals``, an EpochTotals) are read at most
        once a second, since reading them waits for the GPU."""
        if self.bar is not None:
            now = time.perf_counter()
            if now - self.shown >= 1.0:
                loss_sum, correct, seen, _ = totals.read()
                self.bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
                self.shown = now
            self.bar.update(steps_done - self.bar.n)

    def close(self, logs):
        """Close the bar and print the epoch's line (no line when ``logs`` is None: an interrupted epoch)."""
        if self.bar is not None:
            self.bar.close()
        if self.enabled and logs is not None:
            text = f"epoch {logs['epoch']:3d}  loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}"
            if logs.get("val_loss") is not None:
                text += f"  val_loss {logs['val_loss']:.4f}  val_acc {logs['val_accuracy']:.4f}"
            print(text + f"  lr {logs['lr']:.3g}  {logs['seconds']:.1f}s", flush=True)


class StopAfterStep:
    """While active, Ctrl-C (SIGINT) only sets ``requested``; the loop stops after the step in progress.

    Stopping between steps, never inside one, is what makes the checkpoint
    written at Ctrl-C consistent (no half-updated parameters). A second Ctrl-C
    stops at once, for a run that will not reach the end of its step, and says
    what the checkpoint on disk holds: ``saved``, in words (TrainingPosition.describe), which
    the loop updates after every checkpoint it writes. Checkpoints are written
    atomically, so the last one saved is whole.
    """

    def __init__(self, checkpoint=None, saved=None):
        self.checkpoint, self.saved = checkpoint, saved

    def __enter__(self):
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.request)
        return self

    def request(self, signum, frame):
        if self.requested:
            print("\ninterrupted again: stopped at once, inside a step. "
                  + (f"{self.checkpoint.path} is whole and holds the run {self.saved}; --resume continues from there"
                     if self.checkpoint and self.saved else "No checkpoint was saved: the run starts over"),
                  file=sys.stderr)
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# fit()'s keywords before callbacks and Checkpoint took over their work: accepted for one release
MOVED_KEYWORDS = ("resume", "identity", "history_dir", "steps_per_epoch")


def fit(model, optimizer, train, val=None, epochs=10, batch_size=64, *, loss=None, schedule=None, augment=None,
        callbacks=(), checkpoint=None, seed=0, progress=True, flip_averaged=False, **moved):
    """Train ``model`` and return its History.

    - train, val: (x, y) host arrays, x (N, *model.input_shape) float, y (N,) int.
    - loss: a loss layer (default SoftmaxCrossEntropy()).
    - schedule: a minicnn.optim Schedule, stepped after every epoch.
    - augment: callable (x_batch, rng) -> x_batch on the active backend.
    - callbacks: Callback objects (EarlyStopping, KeepBestWeights, SaveHistory, your own), called in order.
    - checkpoint: a Checkpoint (or a path, for Checkpoint(path)), saved after every epoch and at Ctrl-C;
      Checkpoint(path, resume=True) continues from it with the numbers of an uninterrupted run.
    - seed: the shuffling and the augmentation of every batch (dropout draws from the model's Generator).
    - flip_averaged: validate on the logits averaged over each image and its mirror image, so that the
      callbacks (best epoch, early stopping) judge the weights as a flip-averaged test will.
      Raises ValueError before training if the model is not given images.

    Ctrl-C finishes the step in progress, saves the checkpoint, says how to resume and raises
    KeyboardInterrupt. Raises TrainingDiverged naming the epoch and step if the loss stops being finite
    (seen when the epoch's totals come to the host, at its end: nothing inside a step waits for a GPU).
    For speed at large batches, call minicnn.backend.keep_freed_host_memory() once first.
    """
    checkpoint, callbacks, steps_per_epoch = moved_keywords(moved, checkpoint, list(callbacks))
    check_callbacks(callbacks, val)
    if flip_averaged:
        model.check_image_input()   # before training, not at the first validation an epoch later
    loss = loss or SoftmaxCrossEntropy()
    x_train, y_train = train
    steps = math.ceil(len(x_train) / batch_size)
    steps = min(steps, steps_per_epoch) if steps_per_epoch else steps
    if checkpoint is not None and checkpoint.resume and os.path.exists(checkpoint.path):
        position = checkpoint.load(model, optimizer, schedule, callbacks)
        if progress and position.epoch <= epochs and not position.stopped_early:
            print(f"resuming {checkpoint.path}, saved {position.describe(steps)}: "
                  f"{position.what_comes_next(epochs)}", flush=True)
    else:
        position = TrainingPosition()
    position.identity = checkpoint.identity if checkpoint is not None else None
    position.epochs = epochs
    history = position.history
    for callback in callbacks:
        getattr(callback, "on_train_begin", Callback.on_train_begin)(model, history)
    last_epoch = position.epoch - 1 if position.stopped_early else epochs
    saved = position.describe(steps) if position.epoch > 1 or position.step else None
    # a loss that diverges is reported once, by TrainingDiverged, not first by NumPy's floating-point warnings
    with StopAfterStep(checkpoint, saved) as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(position.epoch, last_epoch + 1):
            order = np.random.default_rng((seed, epoch)).permutation(len(x_train))
            totals = EpochTotals(steps - position.step, position.step, position.sums)
            started = time.perf_counter() - position.seconds
            bar = Progress(progress, steps, epoch, epochs)
            for step in range(position.step, steps):
                indices = order[step * batch_size:(step + 1) * batch_size]
                # the batch's one copy to the device; augmentation draws its random numbers on the host and
                # sends them over with a few small copies, then transforms the batch on the device
                x_batch = backend.to_device(x_train[indices], dtype=model.dtype)
                if augment is not None:
                    x_batch = augment(x_batch, np.random.default_rng((seed, epoch, step)))
                logits = model.forward(x_batch, training=True)
                batch_loss = loss.forward_array(logits, y_train[indices])   # labels checked on the host, then sent
                model.backward(loss.backward(), input_gradient=False)
                optimizer.step()
                # no copy to the host inside the step: a non-finite loss is found when the totals are read
                totals.record(batch_loss, logits, loss.labels)
                bar.update(step + 1, totals)
                position.step, position.seconds = step + 1, time.perf_counter() - started
                if interrupt.requested:
                    break
            sums = finite_sums(totals, epoch, steps, checkpoint)
            stop = False
            if interrupt.requested and position.step < steps:   # stopped inside the epoch: saved where it is
                bar.close(None)
                position.epoch, position.sums = epoch, list(sums)
            else:
                logs = epoch_logs(model, epoch, sums, optimizer.lr, val, loss, flip_averaged)
                logs["seconds"] = time.perf_counter() - started
                history.append(**logs)
                bar.close(logs)
                stop = any([callback.on_epoch_end(logs, model) for callback in callbacks])
                if schedule is not None:
                    schedule.step()
                position.next_epoch(epoch + 1, stopped_early=stop)
            if checkpoint is not None:
                checkpoint.save(model, optimizer, schedule, callbacks, position)
                interrupt.saved = position.describe(steps)
            if interrupt.requested:   # the one place a Ctrl-C ends training: after the checkpoint is saved
                stop_for_ctrl_c(checkpoint, position, steps)
            if stop:
                break
    for callback in callbacks:
        getattr(callback, "on_train_end", Callback.on_train_end)(model)
    return history


def moved_keywords(moved, checkpoint, callbacks):
    """(checkpoint, callbacks, steps_per_epoch) with fit()'s keywords of the earlier release turned into
    what does their work now (a FutureWarning says what to write instead); TypeError for any other."""
    unknown = sorted(set(moved) - set(MOVED_KEYWORDS))
    if unknown:
        raise TypeError(f"fit() got an unexpected keyword argument {unknown[0]!r}")
    if moved:
        warnings.warn(f"fit()'s {', '.join(sorted(moved))} go in the next release: give "
                      "checkpoint=Checkpoint(path, resume=..., identity=...) and callbacks=[SaveHistory(directory)]",
                      FutureWarning, stacklevel=3)
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = Checkpoint(checkpoint, resume=moved.get("resume", False), identity=moved.get("identity"))
    elif moved.get("resume") and checkpoint is None:
        raise ValueError("resume=True continues from a checkpoint: give checkpoint=Checkpoint(path, resume=True)")
    if moved.get("history_dir"):
        callbacks.append(SaveHistory(moved["history_dir"]))
    return checkpoint, callbacks, moved.get("steps_per_epoch")


def epoch_logs(model, epoch, sums, lr, val, loss, flip_averaged):
    """An epoch's logs: its training loss and accuracy from ``sums`` (loss sum, correct, seen), the
    learning rate, and the validation loss and accuracy when there is validation data."""
    loss_sum, correct, seen = sums
    logs = {"epoch": epoch, "loss": loss_sum / seen, "accuracy": correct / seen, "lr": lr}
    if val is not None:
        logs["val_loss"], logs["val_accuracy"] = evaluate(model, val[0], val[1], loss=loss,
                                                          flip_averaged=flip_averaged)
    return logs


def finite_sums(totals, epoch, steps, checkpoint):
    """(loss sum, correct, seen) of the epoch so far; TrainingDiverged naming the first step whose loss was not
    finite, before anything is saved, so that the last good checkpoint stays as it was."""
    loss_sum, correct, seen, first_bad = totals.read()
    if first_bad is not None:
        step, batch_loss = first_bad
        raise TrainingDiverged(
            f"loss became {batch_loss} at epoch {epoch}, step {step} of {steps}; "
            + (f"the last good checkpoint is {checkpoint.path}" if checkpoint and os.path.exists(checkpoint.path)
               else "no checkpoint was written yet") + ". Try a lower learning rate.")
    return loss_sum, correct, seen


def check_callbacks(callbacks, val):
    """ValueError naming the callback whose monitor is not in the logs, or needs the validation data it lacks."""
    for callback in callbacks:
        name, monitor = type(callback).__name__, getattr(callback, "monitor", None)
        if monitor is None:
            continue
        if monitor not in MONITORS:
            raise ValueError(f"{name} monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
        if monitor.startswith("val_") and val is None:
            raise ValueError(f"{name} watches {monitor}, which needs validation data: pass val=(x, y)")


def stop_for_ctrl_c(checkpoint, position, steps):
    """Say where the run stopped and what was saved, then raise KeyboardInterrupt."""
    if checkpoint is not None:
        print(f"\ninterrupted {position.describe(steps)}: saved {checkpoint.path}. Continue with --resume "
              f"(Checkpoint(path, resume=True) in fit): {position.what_comes_next()}.", file=sys.stderr)
    else:
        print(f"\ninterrupted {position.describe(steps)}; nothing was saved (no checkpoint)", file=sys.stderr)
    raise KeyboardInterrupt


@dataclasses.dataclass
class TrainingPosition:
    """Where a run stands, as a checkpoint records it (its JSON "run" entry).

    - epoch: the next epoch to train (1 before the first); step: the steps of it already done.
    - sums: that epoch's [loss sum, correct, seen] over those steps; seconds: the time spent in it.
    - history: the finished epochs; stopped_early: EarlyStopping ended the run.
    - identity: what makes the run this run (network, recipe, seed, ...), compared when resuming.
    - epochs: the epochs the run was to train when it was saved (None in checkpoints older than it).
    """
    epoch: int = 1
    step: int = 0
    sums: list = dataclasses.field(default_factory=lambda: [0.0, 0, 0])
    seconds: float = 0.0
    history: History = dataclasses.field(default_factory=History)
    stopped_early: bool = False
    identity: dict = None
    epochs: int = None

    def next_epoch(self, epoch, stopped_early=False):
        self.epoch, self.step, self.sums, self.seconds, self.stopped_early = epoch, 0, [0.0, 0, 0], 0.0, stopped_early

    def describe(self, steps):
        """Where the run stands, in words: "after epoch 4" or "during epoch 5, after step 7 of 94"."""
        if self.step:
            return f"during epoch {self.epoch}, after step {self.step} of {steps}"
        return f"after epoch {self.epoch - 1}" if self.epoch > 1 else "before its first epoch"

    def what_comes_next(self, epochs=None):
        """What training does next, in words ("epoch 5 of 30" when given ``epochs``)."""
        epoch = f"epoch {self.epoch}" + (f" of {epochs}" if epochs else "")
        if self.step:
            return f"{epoch} is not finished and goes on from step {self.step + 1}"
        return f"training goes on with {epoch}"

    def to_json(self):
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return dict(values, history=dict(self.history))

    @classmethod
    def from_json(cls, values):
        known = {field.name for field in dataclasses.fields(cls)}
        position = cls(**{key: value for key, value in values.items() if key in known})
        position.history = History(position.history)
        position.stopped_early = bool(position.stopped_early)
        return position


class Checkpoint:
    """A training checkpoint: one .npz, written atomically, holding the model (as Sequential.save writes
    it), the optimizer's and the schedule's state, each callback's state, the model's random generator
    and the TrainingPosition.

    - path: the .npz file.
    - resume: fit() continues from the file when it exists (a missing one starts the run).
    - identity: a JSON-able dict of what makes the run this run (network, recipe, seed, ...); resuming a
      checkpoint of another identity raises ValueError naming every difference.
    """

    def __init__(self, path, resume=False, identity=None):
        self.path, self.resume, self.identity = os.fspath(path), bool(resume), identity

    def save(self, model, optimizer, schedule, callbacks, position):
        optimizer_state = optimizer.state_dict()
        extra = {f"optimizer/{key}": value for key, value in optimizer_state.pop("arrays").items()}
        callback_values = []
        for index, callback in enumerate(callbacks):
            values, arrays = callback.state() if hasattr(callback, "state") else ({}, {})
            callback_values.append(dict(values, callback=type(callback).__name__,
                                        monitor=getattr(callback, "monitor", None)))
            extra.update({f"callback/{index}/{key}": value for key, value in arrays.items()})
        state = {"run": position.to_json(), "optimizer": optimizer_state, "callbacks": callback_values,
                 "schedule": schedule.state_dict() if schedule else None,
                 "model_rng": model.rng.bit_generator.state}
        extra["training_state"] = np.array(json.dumps(state, default=float))
        model.save(self.path, extra_arrays=extra)

    def read(self):
        """(arrays, state): every array in the file, and the JSON state that save wrote."""
        try:
            contents = read_npz(self.path)
        except (OSError, ValueError) as error:
            raise ValueError(npz_fault(self.path) or str(error)) from error
        if "training_state" not in contents:
            raise ValueError(f"{self.path}: a model file, not a training checkpoint (no training_state)")
        return contents, json.loads(str(contents["training_state"]))

    def saved_position(self):
        """The TrainingPosition saved in the file; ValueError, as resuming would, if it is another run's."""
        position = TrainingPosition.from_json(self.read()[1]["run"])
        check_same_run(self.path, position.identity, self.identity)
        return position

    def load(self, model, optimizer, schedule, callbacks):
        """Put model, optimizer, schedule, callbacks and the model's random generator back as saved; return
        the TrainingPosition."""
        contents, state = self.read()
        position = TrainingPosition.from_json(state["run"])
        check_same_run(self.path, position.identity, self.identity)
        model.load_arrays(contents, source=self.path)
        optimizer_state = dict(state["optimizer"])
        optimizer_state["arrays"] = {key[len("optimizer/"):]: value for key, value in contents.items()
                                     if key.startswith("optimizer/")}
        optimizer.load_state_dict(optimizer_state)
        if schedule is not None and state["schedule"] is not None:
            schedule.load_state_dict(state["schedule"])
        # each callback takes the saved state of its own kind and monitor; one added since starts fresh
        for callback in callbacks:
            kind = (type(callback).__name__, getattr(callback, "monitor", None))
            for index, values in enumerate(state["callbacks"]):
                if (values.get("callback"), values.get("monitor")) == kind and hasattr(callback, "load_state"):
                    prefix = f"callback/{index}/"
                    callback.load_state(values, {key[len(prefix):]: value for key, value in contents.items()
                                                 if key.startswith(prefix)})
                    break
        model.rng.bit_generator.state = state["model_rng"]
        return position


def flat_entries(identity):
    """{"recipe": {"lr": 0.1}} -> {"recipe.lr": 0.1}: one level of nesting undone, so a difference names its key."""
    entries = {}
    for key, value in identity.items():
        if isinstance(value, dict):
            entries.update({f"{key}.{inner}": item for inner, item in value.items()})
        else:
            entries[key] = value
    return entries


def check_same_run(path, saved, identity):
    """ValueError naming every difference when checkpoint ``path``'s ``saved`` identity is not ``identity``."""
    if identity is None or saved is None:
        return
    # through JSON, as the saved one went, so that a tuple and the list it became compare equal; a setting
    # that is off (None or False) is the same as one left out, so a key added to a recipe later (off in
    # the old runs) does not turn their checkpoints into another run's
    saved, identity = flat_entries(saved), flat_entries(json.loads(json.dumps(identity, default=float)))
    saved, identity = ({key: value for key, value in entries.items() if value is not None and value is not False}
                       for entries in (saved, identity))
    def setting(entries, key):
        return repr(entries[key]) if key in entries else "off (not set)"
    differences = [f"{key} {setting(saved, key)} there, {setting(identity, key)} here"
                   for key in sorted(set(saved) | set(identity)) if saved.get(key) != identity.get(key)]
    if differences:
        raise ValueError(f"{path} is the checkpoint of another run ({'; '.join(differences)}): "
                         "resume it with the same settings, or start a new run elsewhere")
