"""The Keras callbacks of a training job, and the state they leave in its model directory.

Resume order: the callbacks run checkpoints, history and TensorBoard first
and the backup last, so a run killed at any moment restarts at the last
epoch whose backup is complete and never skips an epoch's checkpoint; the
history rows of an epoch whose backup did not complete are dropped then.

Early stopping and the learning rate's reduction on a plateau of the
validation metric (`PlateauConfig`) replay history.csv when a run resumes,
so their counters survive a kill as the weights do (the learning rate itself
is in the backup). history.csv is rewritten whole after every epoch; its
`stopped` column says on the last epoch why training ended.

A SIGTERM (what Slurm and other schedulers send before they preempt a job)
does not end the run at once: on one machine the step under way finishes,
its state is backed up (`Backup`) and the run stops with one line; the same
command resumes at the next step. A multi-worker job stops at once and
resumes at its last completed epoch: its workers receive the signal at
different steps, and a backup is a collective that all of them must join.

A resumed run is the run that was not killed, with --deterministic: the
training stream is drawn from (seed, epoch, step) and starts where the
backup does (input_pipeline.Epochs, `resume_point`), dropout is drawn from
the step, which the backup holds (model/dropout.py), and a SIGTERM's backup
carries the epoch's metrics so far, so history.csv is the same too.
Without --deterministic a resumed run reads the same batches in the same
order (every example once an epoch, none twice across the stop); only the
sums of parallel ops may round otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import signal
import threading
import time

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics.core import errors, fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.training import tasks

# The variables Keras's WorkerTrainingState saves beside the model (tf_keras 2.17-2.21).
_SAVED_EPOCH = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"
_SAVED_STEP = "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"
_EPOCH_END = -1  # the saved step of a backup made at an epoch's end
# Written just before a step-level backup, with its epoch, step and metrics: a backup whose own saved
# epoch and step match it is inside that epoch. Any other is an epoch's end, including those of releases
# before 0.2.0, which saved the epoch's last step.
_STEP_BACKUP = "step-backup.json"


class Preempted(errors.Terminated):
    """Training was stopped by SIGTERM; the message says where it will resume."""


def resume_point(model_dir: str) -> tuple[int, int | None]:
    """(epoch, step) at which a resumed fit starts: step None at an epoch's start, else the step to resume
    after, inside the epoch."""
    backup = fileio.join(model_dir, "backup")
    latest = _backup_checkpoint(model_dir)
    if latest is None:
        return 0, None
    try:
        reader = tf.train.load_checkpoint(latest)
        epoch, step = int(reader.get_tensor(_SAVED_EPOCH)), int(reader.get_tensor(_SAVED_STEP))
    except DAMAGED as e:
        raise _damaged_backup(latest, e) from None
    marker = fileio.read_json(fileio.join(backup, _STEP_BACKUP)) or {}
    if step != _EPOCH_END and (marker.get("epoch"), marker.get("step")) == (epoch, step):
        return epoch, step
    return epoch + 1, None


def _backup_checkpoint(model_dir: str) -> str | None:
    """The backup's checkpoint that its state file names, even where its files are gone (a damaged
    backup, not none); None: no backup yet."""
    state = tf.train.get_checkpoint_state(fileio.join(model_dir, "backup", "chief"))
    return state.model_checkpoint_path if state else None


# What TensorFlow raises reading a checkpoint whose index or data file is missing, cut short or garbled.
DAMAGED = (tf.errors.OpError, ValueError, IndexError)


def _damaged_backup(path: str, error: Exception) -> UserError:
    backup = os.path.dirname(os.path.dirname(path))
    return UserError(
        f"{path}: the backup to resume from is damaged ({str(error).strip().splitlines()[0]}); "
        f"remove {backup} to train again from the first epoch, or use a new --model_dir"
    )


def completed_epochs(model_dir: str) -> int:
    """Epochs that the backup holds complete: a resumed fit starts after them."""
    return resume_point(model_dir)[0]


def completed_history(model_dir: str, chief: bool) -> list[dict]:
    """history.csv's rows of the epochs the backup holds; the chief drops any others from the file.

    A run killed after an epoch's history row but before its backup finished
    trains that epoch again; dropping the row keeps one row per epoch.
    """
    path = fileio.join(model_dir, "history.csv")
    if not fileio.exists(path):
        return []
    with fileio.open_file(path, "r") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    done = completed_epochs(model_dir)
    kept = [row for row in rows if int(row["epoch"]) < done]
    if chief and len(kept) < len(rows):
        lines = text.splitlines(keepends=True)
        fileio.write_atomic(path, "".join(lines[: len(kept) + 1]))
    return kept


def _monitored(history: list[dict], monitor: str) -> list[float]:
    """The monitored values of the epochs already done (an epoch without one has none)."""
    return [float(row[monitor]) for row in history if row.get(monitor)]


def _best_so_far(history: list[dict], monitor: str, mode: str) -> float | None:
    """The best monitored value of the epochs already done, so a resumed run keeps a better best."""
    values = _monitored(history, monitor)
    return (max if mode == "max" else min)(values) if values else None


@dataclasses.dataclass(frozen=True)
class PlateauConfig:
    """What training does when the validation metric that picks the best epoch stops improving."""

    early_stopping_patience: int = option(
        0, "Stop after this many epochs without a better validation metric; 0: train all --epochs.", minimum=0
    )
    reduce_lr_patience: int = option(
        0,
        "Multiply the learning rate by --reduce_lr_factor after this many epochs without a better "
        "validation metric; 0: keep it.",
        minimum=0,
    )
    reduce_lr_factor: float = option(0.5, "What a plateau multiplies the learning rate by, in (0, 1).")
    min_learning_rate: float = option(1e-6, "The lowest learning rate a plateau reduces to.", minimum=0)

    def __post_init__(self):
        options.check(self)
        if not 0.0 < self.reduce_lr_factor < 1.0:
            raise UserError(f"--reduce_lr_factor={self.reduce_lr_factor}: must be in (0, 1)")


class _EarlyStopping(tf_keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, its counters replayed from the history of the epochs already done."""

    def __init__(self, history: list[dict], **settings):
        super().__init__(**settings)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for value in _monitored(self.history, self.monitor):  # as on_epoch_end counts
            self.wait += 1
            if self._is_improvement(value, self.best):
                self.best, self.wait = value, 0

    def exhausted(self) -> bool:
        """Whether the epochs already done had stopped training: a rerun then trains nothing."""
        self.on_train_begin()
        return self.wait >= self.patience


class _ReduceLearningRate(tf_keras.callbacks.ReduceLROnPlateau):
    """Keras's ReduceLROnPlateau, its counters replayed from the history (the rate is in the backup)."""

    def __init__(self, history: list[dict], **settings):
        super().__init__(**settings)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for row in self.history:  # as on_epoch_end counts (no cooldown)
            if not row.get(self.monitor):
                continue
            value = float(row[self.monitor])
            if self.monitor_op(value, self.best):
                self.best, self.wait = value, 0
                continue
            self.wait += 1
            if self.wait >= self.patience and float(row.get("lr") or np.inf) > self.min_lr:
                self.wait = 0  # the rate was reduced then


class HistoryFile(tf_keras.callbacks.Callback):
    """history.csv, rewritten whole after every epoch: a row an epoch, and in `stopped` on the last one why
    training ended (early_stopping, or epochs: --epochs reached). Unlike appending (Keras's CSVLogger), a
    column that appears later (lr, stopped) keeps the file one table."""

    def __init__(self, path: str, history: list[dict]):
        super().__init__()
        self.path, self.rows = path, [dict(row) for row in history]

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # set by early stopping, which runs before this
            stopped = "early_stopping"
        else:
            stopped = "epochs" if epoch + 1 == self.params["epochs"] else ""
        values = {k: float(v) for k, v in sorted((logs or {}).items())}
        self.rows.append({"epoch": epoch, **values, "stopped": stopped})
        names = list(dict.fromkeys(k for row in self.rows for k in row if k != "stopped")) + ["stopped"]
        text = io.StringIO()
        writer = csv.DictWriter(text, names, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        fileio.write_atomic(self.path, text.getvalue())


class FirstStep(tf_keras.callbacks.Callback):
    """Times the first training step from the job's start: the start-up users wait for (and the benchmark)."""

    def __init__(self, started: float):
        super().__init__()
        self.started, self.seconds = started, None

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
            print(f"first training step done, {self.seconds:.1f} s after the job started", flush=True)


class Backup(tf_keras.callbacks.BackupAndRestore):
    """BackupAndRestore at every epoch's end, and at the step a SIGTERM arrives (then the run stops).

    An integer save_freq makes Keras restore a step-level backup at the step
    after it; this class alone decides when to save, so the number is unused.
    A backup at an epoch's end records step _EPOCH_END, and fit's
    initial_epoch (completed_epochs) resumes after it. Keras's state variables
    are private (tf_keras 2.17-2.21's WorkerTrainingState); tests cover both kinds.
    """

    def __init__(self, model_dir: str):
        super().__init__(fileio.join(model_dir, "backup"), save_freq=1, delete_checkpoint=False)
        self.model_dir, self.terminated = model_dir, False

    def on_train_begin(self, logs=None):
        epoch, step = resume_point(self.model_dir)  # first: a damaged backup is refused in one line
        try:
            super().on_train_begin(logs)  # restores the backup
        except DAMAGED as e:
            raise _damaged_backup(_backup_checkpoint(self.model_dir), e) from None
        self.carried = None
        if step is None:  # fit's initial_epoch (completed_epochs) says where to start
            self._training_state._ckpt_saved_batch.assign(_EPOCH_END)
        else:
            # None from releases before 0.3.0, whose markers hold no metrics: the epoch's start afresh.
            self.carried = fileio.read_json(fileio.join(self.backup_dir, _STEP_BACKUP)).get("metrics")
            print(f"resuming epoch {epoch + 1} at step {step + 2} (backed up when a SIGTERM stopped it)")

    def on_train_batch_end(self, batch, logs=None):
        if self.carried is not None:  # the epoch's metrics go on from the steps trained before the stop
            for metric, values in zip(self.model.metrics, self.carried, strict=True):
                for variable, value in zip(metric.variables, values, strict=True):
                    for replica, carried in zip(self._replicas(variable), value, strict=True):
                        replica.assign_add(np.asarray(carried, replica.dtype.as_numpy_dtype))
            self.carried = None
        # In an epoch's last two steps the epoch ends first (validation, checkpoint, history, backup) and
        # the next epoch's first step stops the run: a resumed epoch has a step after the one that adds
        # the carried metrics, so its logged metrics are the whole epoch's.
        if self.terminated and batch < self.params["steps"] - 2:
            epoch = self._current_epoch
            marker = {
                "epoch": int(epoch),  # after a resume, numpy integers
                "step": int(batch),
                # Keras's metrics are sums (totals, counts), each replica its own: the resumed run adds each
                # to its own replica's, exactly as the next step would have (a + b is b + a in floats).
                "metrics": [
                    [[r.numpy().tolist() for r in self._replicas(v)] for v in metric.variables]
                    for metric in self.model.metrics
                ],
            }
            fileio.makedirs(self.backup_dir)  # in a run's first epoch, no backup has made it yet
            fileio.write_atomic(fileio.join(self.backup_dir, _STEP_BACKUP), json.dumps(marker))
            self._backup(epoch=epoch, batch=batch)
            raise Preempted(
                f"stopped by SIGTERM in epoch {epoch + 1} after step {batch + 1} of {self.params['steps']}; "
                f"backed up to {self.backup_dir}: run the same command to resume at step {batch + 2}"
            )

    def on_epoch_end(self, epoch, logs=None):
        self._training_state._ckpt_saved_batch.assign(_EPOCH_END)
        self._backup(epoch=epoch)

    def _replicas(self, variable) -> tuple:
        """A metric variable's copies, one a replica (the variable itself on one device)."""
        return self.model.distribute_strategy.experimental_local_results(variable)


@contextlib.contextmanager
def stop_on_sigterm(backup: Backup, workers: int):
    """Within: a SIGTERM makes `backup` save and stop at the end of the step under way (one machine), or
    stops at once (several workers); after fit, a SIGTERM received in its last epoch stops the job."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread takes signals
        yield
        return

    def terminated(signum, frame):
        if workers > 1:
            raise Preempted(
                "stopped by SIGTERM; run the same command on every worker to resume from the last "
                "completed epoch (a multi-worker job backs up at epoch ends)"
            )
        backup.terminated = True

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
    if backup.terminated:  # arrived after the last step: every epoch is backed up, nothing else started
        raise Preempted(
            "stopped by SIGTERM after the last epoch; run the same command to export and evaluate"
        )


def early_stopping(task: tasks.Task, history: list[dict], plateau: PlateauConfig) -> _EarlyStopping | None:
    """The early stopping callback (None when off); history: the rows of the epochs already done."""
    if not plateau.early_stopping_patience:
        return None
    monitor, mode = task.monitor
    return _EarlyStopping(history, monitor=monitor, mode=mode, patience=plateau.early_stopping_patience)


class _BestWeights(tf_keras.callbacks.ModelCheckpoint):
    """The weights of the best epoch so far, each best under a name of its own (best/weights-NNN).

    TensorFlow writes a checkpoint's data file and then its index, each
    renamed into place: weights overwritten under one name were corrupt when
    a kill fell between the two renames, and the export then failed. The
    directory's `checkpoint` file, replaced after both, names the complete
    one (`best_weights`); the chief then removes the others.
    """

    def __init__(self, model_dir: str, chief: bool, **kwargs):
        self.model_dir, self.chief = model_dir, chief
        path = fileio.join(model_dir, "best", "weights-{epoch:03d}")
        super().__init__(path, save_best_only=True, save_weights_only=True, **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        latest = self.chief and best_weights(self.model_dir)  # other workers never touch model_dir
        if latest:  # the others: superseded, or a write that a kill cut short
            for path in fileio.glob(fileio.join(self.model_dir, "best", "weights*")):
                if not path.startswith(latest + "."):
                    fileio.remove(path)


class _EpochCheckpoints(tf_keras.callbacks.ModelCheckpoint):
    """checkpoints/epoch-NNN: the weights after every epoch, the newest `keep` of them kept (0: all).

    Before a checkpoint is written, one that the free space cannot hold
    (with the backup written after it) stops the run in one line, as the
    converter refuses a conversion that cannot fit. Older ones are removed
    once the new one is complete (Keras has renamed its files into place).
    """

    def __init__(self, model_dir: str, chief: bool, keep: int):
        self.directory, self.chief, self.keep = fileio.join(model_dir, "checkpoints"), chief, keep
        super().__init__(fileio.join(self.directory, "epoch-{epoch:03d}"), save_weights_only=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.chief:
            _check_room(self.directory, self.model)
        super().on_epoch_end(epoch, logs)
        if self.chief and self.keep:
            _prune(self.directory, self.keep)


# What an epoch's end writes, in bytes per byte of weights: the checkpoint, a new best and the backup, each
# the weights and Adam's two moments (3), each written before the one it replaces is removed.
_BYTES_PER_WEIGHT_BYTE = 9


def _check_room(directory: str, model: tf_keras.Model) -> None:
    """Refuses in one line an epoch's end that a local disk cannot hold."""
    needed = _BYTES_PER_WEIGHT_BYTE * sum(w.shape.num_elements() * w.dtype.size for w in model.weights)
    fileio.check_room(
        directory, needed, "the next checkpoint and backup", "free space and run the same command to resume"
    )


def _prune(directory: str, keep: int) -> None:
    """Removes every epoch checkpoint's files but the newest `keep` epochs'. TensorFlow's `checkpoint`
    file names only the newest, so no list ever names a removed one."""
    files: dict[int, list[str]] = {}
    for path in fileio.glob(fileio.join(directory, "epoch-*")):
        epoch = int(os.path.basename(path).split(".")[0].removeprefix("epoch-"))
        files.setdefault(epoch, []).append(path)
    for epoch in sorted(files)[:-keep]:
        for path in files[epoch]:
            fileio.remove(path)


class StopOnNonFinite(tf_keras.callbacks.Callback):
    """Stops training in one line when the loss stops being finite, before any backup or export holds the
    weights that made it: which epoch and step, and the last good checkpoint to go back to."""

    def __init__(self, model_dir: str):
        super().__init__()
        self.model_dir, self.epoch = model_dir, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            last = tf.train.latest_checkpoint(fileio.join(self.model_dir, "checkpoints"))
            raise UserError(
                f"the training loss became {loss} in epoch {self.epoch + 1} at step {batch + 1}; "
                f"nothing was exported; the last good weights: {last or 'none (no epoch completed)'}; "
                "lower --learning_rate or check the records"
            )


def best_weights(model_dir: str) -> str | None:
    """The checkpoint of the best epoch's weights that a model directory holds complete; None: none yet."""
    return tf.train.latest_checkpoint(fileio.join(model_dir, "best"))


def make_callbacks(
    task: tasks.Task,
    model_dir: str,
    chief: bool,
    history: list[dict],
    first_step: FirstStep,
    backup: Backup,
    plateau: PlateauConfig,
    keep_checkpoints: int,
) -> list[tf_keras.callbacks.Callback]:
    """history: the rows of the epochs already done (every worker must see the same ones);
    keep_checkpoints: the per-epoch checkpoints kept, newest first (0: all)."""
    monitor, mode = task.monitor
    callbacks = [
        StopOnNonFinite(model_dir),  # first: no other callback sees the step that made a NaN
        first_step,
        _EpochCheckpoints(model_dir, chief, keep_checkpoints),
        _BestWeights(
            model_dir,
            chief,
            monitor=monitor,
            mode=mode,
            initial_value_threshold=_best_so_far(history, monitor, mode),
        ),
        tf_keras.callbacks.TensorBoard(fileio.join(model_dir, "logs"), profile_batch=0),
    ]
    stopping = early_stopping(task, history, plateau)
    if stopping:
        callbacks.append(stopping)
    if plateau.reduce_lr_patience:
        callbacks.append(
            _ReduceLearningRate(
                history,
                monitor=monitor,
                mode=mode,
                factor=plateau.reduce_lr_factor,
                patience=plateau.reduce_lr_patience,
                min_lr=plateau.min_learning_rate,
                verbose=1,
            )
        )
    if chief:  # after the plateau callbacks: it records their learning rate and stop
        callbacks.append(HistoryFile(fileio.join(model_dir, "history.csv"), history))
    return [*callbacks, backup]  # last: see the module's docstring
