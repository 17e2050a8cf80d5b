"""A resumed run is the run that was not killed: the training stream drawn from (seed, epoch, step),
dropout drawn from the step, bounded checkpoints, a loss that stops being finite, a damaged backup."""

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from test_trainer import _config, _mirrored, _sigterm_at

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data.converted import ConvertedDataset
from techtonics.model import dropout
from techtonics.training import augmentation, callbacks, input_pipeline, tasks, trainer

AUGMENTED = {
    "augment_shift": 0.5,
    "augment_noise": 0.3,
    "augment_gain": 0.3,
    "augment_gap": 0.2,
    "class_weight": "2,1",
}


class _Killed(Exception):
    """Stands for a kill -9 that lands right after an epoch's backup."""


def _killed_after_backup_of(epoch: int):
    original = callbacks.Backup.on_epoch_end

    def on_epoch_end(self, done, logs=None):
        original(self, done, logs)
        if done == epoch:
            raise _Killed

    return on_epoch_end


def _final_weights(model_dir) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir / "checkpoints")))
    names = [
        n for n in reader.get_variable_to_shape_map() if "VARIABLE_VALUE" in n and "save_counter" not in n
    ]
    return {name: reader.get_tensor(name) for name in names}


def _first_difference(a, b) -> str | None:
    """The first variable that differs between two final weights, None when all are equal."""
    assert a.keys() == b.keys()
    return next((name for name in sorted(a) if not np.array_equal(a[name], b[name])), None)


@pytest.mark.parametrize(
    "strategy, moment, recipe",
    [
        ("default", "sigterm-inside-epoch-2", "plain"),
        ("default", "sigterm-inside-epoch-2", "augmented"),
        ("default", "killed-after-epoch-2s-backup", "augmented"),
        ("default", "sigterm-at-epoch-1s-first-step", "plain"),
        pytest.param("mirrored", "sigterm-inside-epoch-2", "augmented", marks=pytest.mark.slow),
        pytest.param("mirrored", "killed-after-epoch-2s-backup", "plain", marks=pytest.mark.slow),
    ],
)
def test_a_resumed_run_ends_where_the_uninterrupted_run_ends(
    tiny_records, tmp_path, monkeypatch, recipe, moment, strategy
):
    # Issue 31: a run killed after epoch 2 and resumed ended with other weights and history (the shuffle,
    # the augmentation's draws and dropout restarted their sequences in the new process).
    settings = {"epochs": 3, "steps_per_epoch": 4, "evaluate_split": "none", "deterministic": True}
    config = _config(tiny_records, **settings, **(AUGMENTED if recipe == "augmented" else {}))
    override = _mirrored() if strategy == "mirrored" else None
    trainer.train_and_evaluate(config, str(tmp_path / "clean"), strategy=override)

    resumed = tmp_path / "resumed"
    if moment == "killed-after-epoch-2s-backup":
        monkeypatch.setattr(callbacks.Backup, "on_epoch_end", _killed_after_backup_of(epoch=1))
        stopped = _Killed
    else:
        epoch, step = (1, 1) if moment == "sigterm-inside-epoch-2" else (0, 0)
        monkeypatch.setattr(callbacks.FirstStep, "on_train_batch_end", _sigterm_at(epoch=epoch, step=step))
        stopped = callbacks.Preempted
    with pytest.raises(stopped):
        trainer.train_and_evaluate(config, str(resumed), strategy=override)
    monkeypatch.undo()
    trainer.train_and_evaluate(config, str(resumed), strategy=override)

    assert _first_difference(_final_weights(resumed), _final_weights(tmp_path / "clean")) is None
    assert (resumed / "history.csv").read_text() == (tmp_path / "clean" / "history.csv").read_text()


@pytest.mark.parametrize("deterministic", [True, False], ids=["deterministic", "parallel-ops"])
@pytest.mark.parametrize("augment", [None, augmentation.RECOMMENDED], ids=["plain", "augmented"])
def test_the_training_stream_resumed_inside_an_epoch_is_the_rest_of_the_uninterrupted_stream(
    tiny_records, augment, deterministic
):
    # Without --deterministic too: every example once an epoch, none twice across a stop.
    converted, task = ConvertedDataset(str(tiny_records)), tasks.get("classification")
    config = input_pipeline.InputConfig(batch_size=8, deterministic=deterministic)

    def stream(epochs):
        ds = input_pipeline.dataset(
            converted, "train", config, task, training=True, seed=4, epochs=epochs, augment=augment
        )
        return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in ds.take(6)]

    uninterrupted = stream(input_pipeline.Epochs(steps=3))
    resumed = stream(input_pipeline.Epochs(steps=3, first=1, done=1))  # epoch 2, after its first step
    tf.nest.map_structure(np.testing.assert_array_equal, resumed[:2], uninterrupted[4:6])
    waveforms = [batch["waveform"] for batch in uninterrupted]
    assert not np.array_equal(np.concatenate(waveforms[:3]), np.concatenate(waveforms[3:]))  # drawn anew


def test_dropout_is_drawn_from_the_optimizers_step_count_and_keeps_keras_checkpoint_layout():
    def model():
        inputs = tf_keras.Input([64])
        built = tf_keras.Model(inputs, dropout.StepDropout(0.5, seed=7)(tf_keras.layers.Dense(64)(inputs)))
        built.compile(optimizer="adam", loss="mse")
        dropout.count_steps(built)
        return built

    first, again = model(), model()
    layer = first.layers[-1]
    ones = tf.ones([2, 64])
    masks = []
    for step in (0, 1):
        first.optimizer.iterations.assign(step)
        masks.append(layer(ones, training=True).numpy())
    assert not np.array_equal(masks[0], masks[1]) and set(np.unique(masks[0])) <= {0.0, 2.0}
    again.optimizer.iterations.assign(1)  # as a restored backup sets it
    np.testing.assert_array_equal(again.layers[-1](ones, training=True), masks[1])
    np.testing.assert_array_equal(layer(ones, training=False), ones)
    assert not layer.weights  # checkpoints of models built with Keras's Dropout still load


def test_only_the_newest_epoch_checkpoints_are_kept_besides_the_best(tiny_records, tmp_path):
    config = _config(tiny_records, epochs=4, keep_checkpoints=2, evaluate_split="none")
    trainer.train_and_evaluate(config, str(tmp_path))
    checkpoints = tmp_path / "checkpoints"
    assert (
        sorted(p.name.split(".")[0] for p in checkpoints.glob("epoch-*"))
        == ["epoch-003"] * 2 + ["epoch-004"] * 2
    )
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("epoch-004")
    assert callbacks.best_weights(str(tmp_path))  # the best epoch's weights, whichever it was
    everything = _config(tiny_records, epochs=5, keep_checkpoints=0, evaluate_split="none")
    trainer.train_and_evaluate(everything, str(tmp_path))  # 0 keeps every one from now on
    assert len(list(checkpoints.glob("epoch-*.index"))) == 3


def test_an_epoch_end_that_cannot_fit_stops_in_one_line_before_writing(tiny_records, tmp_path, monkeypatch):
    monkeypatch.setattr(
        fileio.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000)
    )
    with pytest.raises(
        UserError, match=r"checkpoints: the next checkpoint and backup need about .* MB, only 0.0 MB"
    ) as error:
        trainer.train_and_evaluate(_config(tiny_records, evaluate_split="none"), str(tmp_path))
    assert "\n" not in str(error.value) and not list((tmp_path / "checkpoints").glob("epoch-*"))


def test_a_loss_that_stops_being_finite_stops_training_and_exports_nothing(tiny_records, tmp_path):
    config = _config(tiny_records, epochs=3, learning_rate=1e38, evaluate_split="none")
    with pytest.raises(
        UserError, match=r"the training loss became (nan|inf) in epoch \d+ at step \d+; nothing"
    ):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("damage", ["index-removed", "data-truncated"])
def test_a_damaged_backup_is_one_line_naming_it(tiny_records, tmp_path, damage):
    config = _config(tiny_records, epochs=1, evaluate_split="none")
    trainer.train_and_evaluate(config, str(tmp_path))
    backup = tmp_path / "backup" / "chief"
    if damage == "index-removed":
        next(backup.glob("*.index")).unlink()
    else:
        data = next(backup.glob("*.data-*"))
        data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(
        UserError, match=r"backup.*: the backup to resume from is damaged .*; remove .*backup"
    ):
        trainer.train_and_evaluate(_config(tiny_records, epochs=2, evaluate_split="none"), str(tmp_path))


@pytest.mark.parametrize("damage", ["best-truncated", "last-checkpoint-index-removed"])
def test_damaged_weights_to_export_are_one_line_naming_them(tiny_records, tmp_path, damage):
    config = _config(tiny_records, epochs=1, evaluate_split="none")
    trainer.train_and_evaluate(config, str(tmp_path))
    if damage == "best-truncated":
        data = next((tmp_path / "best").glob("*.data-*"))
        data.write_bytes(data.read_bytes()[:100])
        message = r"best/weights-001: damaged weights \(.*\); remove .*best to use the last epoch's"
    else:
        shutil.rmtree(tmp_path / "best")
        next((tmp_path / "checkpoints").glob("*.index")).unlink()
        message = r"checkpoints: no complete checkpoint; train again"
    with pytest.raises(trainer.TrainingError, match=message) as error:
        trainer.train_and_evaluate(config, str(tmp_path))  # complete: exports again
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_a_sigterm_at_start_up_stops_the_run_in_one_line(tiny_records, tmp_path):
    # It was swallowed: AutoGraph, converting the input pipeline's functions, caught the SIGTERM's error
    # and the run trained to its end with exit 0.
    command = [
        sys.executable,
        "-m",
        "techtonics.train",
        f"--records={tiny_records}",
        f"--model_dir={tmp_path}",
        "--batch_size=8",
        "--epochs=3",
        "--evaluate_split=none",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "config.json").exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    time.sleep(0.3)  # the input pipeline is being built
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    errors_printed = [line for line in stderr.splitlines() if line.startswith(("error", "Traceback"))]
    assert process.returncode == 143 and len(errors_printed) == 1, stderr[-2000:]
    assert errors_printed[0].startswith("error: stopped by SIGTERM")
