"""The trainer: both tasks under the default strategy with XLA and under MirroredStrategy,
resuming, refusing a different model, bad data and flags, and SIGKILL mid-epoch."""

import csv
import functools
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from techtonics.conversion import converter, plan
from techtonics.core import errors, fileio, options
from techtonics.data import splits, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.model import export
from techtonics.synthetic import generator
from techtonics.training import augmentation, callbacks, tasks, trainer

PNG = b"\x89PNG\r\n\x1a\n"


def _config(records, **overrides) -> trainer.TrainConfig:
    settings = {"epochs": 2, "batch_size": 8, "steps_per_epoch": 3, "shuffle_buffer": 64, "seed": 1}
    return options.build(trainer.TrainConfig, {**settings, **overrides}, records=str(records))


def _history_epochs(model_dir) -> list[int]:
    if not (model_dir / "history.csv").exists():  # no epoch has ended yet
        return []
    with open(model_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _count_in_test_split(records, task) -> int:
    return tasks.get(task).example_count(ConvertedDataset(str(records)), "test")


@functools.cache
def _mirrored():
    # One instance per process: two MirroredStrategy objects over the same devices reuse
    # collective instance keys, and the second one's all-reduce then fails with a shape mismatch.
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")[:2]])


@pytest.mark.parametrize("task", list(tasks.TASKS))
@pytest.mark.parametrize("strategy", ["default+xla", "mirrored"])
def test_trains_exports_and_evaluates(tiny_records, tmp_path, task, strategy):
    # XLA under MirroredStrategy on logical CPUs fails upstream (docs/known_problems.md):
    # mirrored runs without it.
    config = _config(tiny_records, task=task, jit_compile=strategy == "default+xla")
    override = _mirrored() if strategy == "mirrored" else None
    result = trainer.train_and_evaluate(config, str(tmp_path), flags_text="--flag=1\n", strategy=override)

    assert len(result.history["loss"]) == 2 and all(np.isfinite(result.history["loss"]))
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.index")) == [
        "epoch-001.index",
        "epoch-002.index",
    ]
    assert callbacks.best_weights(str(tmp_path)) and (tmp_path / "backup").is_dir()
    assert _history_epochs(tmp_path) == [0, 1]
    assert (tmp_path / "flags.txt").read_text() == "--flag=1\n"
    assert json.loads((tmp_path / "config.json").read_text())["task"] == task
    assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))

    metrics = json.loads((tmp_path / "eval" / "test" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["split"] == "test"
    for figure in metrics["figures"]:
        assert (tmp_path / "eval" / "test" / figure).read_bytes().startswith(PNG)
    if task == "classification":
        assert (
            metrics["examples"]
            == np.sum(metrics["confusion_matrix"])
            == _count_in_test_split(tiny_records, task)
        )
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert {"confusion_matrix.png", "roc.png", "precision_recall.png"} <= set(metrics["figures"])
    elif task == "picking":  # the detection as the classifier's, and each phase's picks
        assert metrics["examples"] == _count_in_test_split(tiny_records, task)
        earthquakes = metrics["confusion_matrix"][1]
        assert metrics["P_onset"]["picks"] == sum(earthquakes) and metrics["P_onset"]["rmse_s"] >= 0.0
        assert {"roc.png", "onset_residuals.png"} <= set(metrics["figures"])
    else:
        assert metrics["examples"] == _count_in_test_split(tiny_records, task)
        assert metrics["units"] == "magnitude" and metrics["rmse"] >= metrics["mae"] >= 0.0
        assert {"predicted_vs_true.png", "residuals.png", "residual_histogram.png"} <= set(metrics["figures"])


def test_a_history_row_without_a_finished_backup_is_dropped_on_resume(tiny_records, tmp_path):
    trainer.train_and_evaluate(_config(tiny_records, epochs=1, evaluate_split="none"), str(tmp_path))
    history = tmp_path / "history.csv"
    with open(history, "a") as f:  # killed after epoch 2's row, before its backup
        f.write(history.read_text().splitlines()[-1].replace("0,", "1,", 1) + "\n")
    result = trainer.train_and_evaluate(_config(tiny_records, epochs=2, evaluate_split="none"), str(tmp_path))
    assert len(result.history["loss"]) == 1 and _history_epochs(tmp_path) == [0, 1]


def test_rerun_resumes_without_redoing_epochs_and_extends(tiny_records, tmp_path):
    trainer.train_and_evaluate(_config(tiny_records, epochs=1, evaluate_split="none"), str(tmp_path))
    first = tmp_path / "checkpoints" / "epoch-001.index"
    stamp = first.stat().st_mtime_ns
    result = trainer.train_and_evaluate(_config(tiny_records, epochs=2, evaluate_split="none"), str(tmp_path))
    assert len(result.history["loss"]) == 1  # only epoch 2 was trained
    assert first.stat().st_mtime_ns == stamp
    assert _history_epochs(tmp_path) == [0, 1]
    again = trainer.train_and_evaluate(_config(tiny_records, epochs=2, evaluate_split="none"), str(tmp_path))
    assert again.history == {} and _history_epochs(tmp_path) == [0, 1]  # complete: nothing to redo
    assert (tmp_path / "export" / export.EXPORT_INFO).exists()


def test_a_different_model_in_the_same_directory_is_refused(tiny_records, tmp_path):
    (tmp_path / "config.json").write_text(_config(tiny_records).to_json())
    with pytest.raises(trainer.TrainingError, match="different task, target"):
        trainer.train_and_evaluate(
            _config(tiny_records, task="regression", target="p_arrival_sample"), str(tmp_path)
        )


def test_a_corrupt_shard_is_a_one_line_error(tiny_records, tmp_path):
    records = tmp_path / "records"
    shutil.copytree(tiny_records, records)
    for shard in records.glob("train-*"):
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    # Issue 22, item 10: the shard and its first bad record are named, not "a shard is corrupt (...)".
    first = sorted(records.glob("train-*"))[0]
    named = rf"^{first}: record [1-9]\d* is unreadable \(corrupted record at \d+\); convert again"
    with pytest.raises(trainer.TrainingError, match=named) as error:
        trainer.train_and_evaluate(_config(records, evaluate_split="none"), str(tmp_path / "model"))
    assert "\n" not in str(error.value)


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tiny_records, tmp_path):
    with pytest.raises(trainer.TrainingError, match="batch_size 7 does not split evenly over 2 replicas"):
        trainer.train_and_evaluate(_config(tiny_records, batch_size=7), str(tmp_path), strategy=_mirrored())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"precision": "float8"}, "--precision=float8: use one of float32, mixed_float16"),
        ({"epochs": 0}, "--epochs=0: must be at least 1"),
        ({"learning_rate": -1.0}, "--learning_rate=-1.0: must be positive"),
        ({"target": "moment"}, "--target=moment: use one of"),
        ({"collective": "mpi"}, "--collective=mpi: use one of"),
        ({"data_service_address": "dispatcher"}, "--data_service_address=dispatcher: use grpc://HOST:PORT"),
        ({"shuffle_buffer": 0}, "--shuffle_buffer=0: must be at least 1"),
        ({"no_such_option": 1}, "TrainConfig has no option no_such_option"),
        ({"deterministic": True, "jit_compile": True}, "--deterministic with --jit_compile: XLA has no"),
    ],
)
def test_bad_config_values(tiny_records, change, message):
    with pytest.raises(errors.UserError, match=message):
        _config(tiny_records, **change)


def _train_command(records, model_dir, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "techtonics.train",
        f"--records={records}",
        f"--model_dir={model_dir}",
        "--batch_size=8",
        "--shuffle_buffer=64",
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--image_channels=X"], "error: image channels 'X'"),
        (["--records=/nonexistent/records"], "error: /nonexistent/records/manifest.json: no such manifest"),
        (["--target=moment"], "flag --target=moment: value should be one of"),
        (["--batch_size=100000"], "fewer than one batch of 100000"),
    ],
)
def test_command_line_errors_are_one_line(tiny_records, tmp_path, extra, message):
    result = subprocess.run(
        _train_command(tiny_records, tmp_path / "m", *extra), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert any(line.startswith(message) or message in line for line in result.stderr.splitlines())
    assert "Traceback" not in result.stderr
    if "no such manifest" in message:  # refused before the model directory (and its lock) is made
        assert not (tmp_path / "m").exists()


def _wait_for(path, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_resumes(tiny_records, tmp_path):
    extra = ["--epochs=4", "--deterministic", "--seed=3", "--evaluate_split=none"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    subprocess.run(_train_command(tiny_records, clean, *extra), check=True, capture_output=True)

    process = subprocess.Popen(
        _train_command(tiny_records, killed, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _wait_for(killed / "checkpoints" / "epoch-002.index", process)
    time.sleep(0.2)  # into epoch 3
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _history_epochs(killed)
    assert done_before and done_before[-1] < 3, "the kill landed after training ended"
    stamps = {p.name: p.stat().st_mtime_ns for p in (killed / "checkpoints").glob("epoch-*")}

    rerun = subprocess.run(
        _train_command(tiny_records, killed, *extra), check=True, capture_output=True, text=True
    )
    resumed = json.loads(re.search(r"trained epochs (\[[\d, ]*\])", rerun.stdout).group(1))
    # Only an epoch whose backup the kill interrupted (after its history row) is trained again.
    assert resumed == list(range(resumed[0], 5)) and resumed[0] in (len(done_before), len(done_before) + 1)
    assert _history_epochs(killed) == [0, 1, 2, 3]  # every epoch once
    assert sorted(p.name for p in (killed / "checkpoints").glob("epoch-*")) == sorted(
        p.name for p in (clean / "checkpoints").glob("epoch-*")
    )
    for epoch in range(1, resumed[0]):  # finished before the kill: not redone, same as uninterrupted
        for path in (killed / "checkpoints").glob(f"epoch-{epoch:03d}.*"):
            assert path.stat().st_mtime_ns == stamps[path.name]
            assert path.read_bytes() == (clean / "checkpoints" / path.name).read_bytes()


_PARSE_CONFIGS = """
import sys
from absl import flags
from techtonics.core import options
from techtonics import train
from techtonics.training import trainer
for path in sys.argv[1:]:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["train", f"--flagfile={path}", "--records=r", "--model_dir=m"])
    config = options.from_flags(trainer.TrainConfig, records="r")
    weights = [f"--class_weight={config.class_weight}"] if config.class_weight != "none" else []
    head = [f"--head={config.head}"] if config.head != "auto" else []
    recipe = [*options.to_flags(config.augment), *options.to_flags(config.model.image), *weights, *head]
    print(path, config.task, config.target, config.epochs, *recipe)
"""


def test_every_training_config_parses_into_a_valid_config():
    configs = sorted(str(p) for p in (pathlib.Path(__file__).parents[1] / "configs").glob("*.flags"))
    training = [c for c in configs if not pathlib.Path(c).name.startswith("convert_")]
    # Nested flagfiles (regression_*.flags name configs/regression.flags) are relative to the repository.
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_CONFIGS, *training],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).parents[1],
    )
    assert result.returncode == 0, result.stderr.splitlines()[-1]
    parsed = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert set(parsed) == set(training) and len(training) >= 7
    assert parsed[next(c for c in training if c.endswith("/regression_p_arrival.flags"))][:2] == [
        "regression",
        "p_arrival_sample",
    ]
    recipe = {c: parsed[c][3:] for c in training}  # what a config changes of the original's recipe
    assert recipe.pop(next(c for c in training if c.endswith("/augmented.flags"))) == options.to_flags(
        augmentation.RECOMMENDED
    )
    # Each job, position-robust: the _augmented variants, and the picker, which is only trained so.
    jobs = [c for c in recipe if c.endswith("_augmented.flags") or parsed[c][0] == "picking"]
    assert len(jobs) == 6 and all(recipe[c] == tasks.get(*parsed[c][:2]).recommended_flags() for c in jobs)
    assert all(recipe[c] == [] for c in recipe if c not in jobs)


def test_a_second_job_on_a_held_model_dir_is_refused(tiny_records, tmp_path):
    # Issue 22, item 2: two trainers on one directory both ran and exported over each other.
    with fileio.directory_lock(str(tmp_path), "a training job"):
        with pytest.raises(
            errors.UserError, match=rf"^{tmp_path}: a training job \(pid {os.getpid()}\) is using it;"
        ):
            trainer.train_and_evaluate(_config(tiny_records, evaluate_split="none"), str(tmp_path))
    assert not (tmp_path / "config.json").exists()  # refused before writing anything


def test_best_weights_are_never_overwritten_in_place_and_a_write_cut_short_is_cleared(tiny_records, tmp_path):
    # A kill between TensorFlow's renames of best/weights' data and index files left them unreadable.
    trainer.train_and_evaluate(_config(tiny_records, epochs=1, evaluate_split="none"), str(tmp_path))
    assert callbacks.best_weights(str(tmp_path)) == str(tmp_path / "best" / "weights-001")
    cut = tmp_path / "best" / "weights-009.data-00000-of-00001"  # what such a kill leaves of a write
    cut.write_bytes(b"part of a checkpoint")
    assert callbacks.best_weights(str(tmp_path)).endswith("weights-001")  # the complete one is read
    result = trainer.train_and_evaluate(_config(tiny_records, epochs=3, evaluate_split="none"), str(tmp_path))
    best = pathlib.Path(callbacks.best_weights(str(tmp_path)))
    assert {p.name.split(".")[0] for p in best.parent.iterdir() if p.name != "checkpoint"} == {best.name}
    assert result.export and not cut.exists()


@pytest.mark.slow
def test_a_running_trainer_refuses_a_second_and_its_kill_leaves_no_lock(tiny_records, tmp_path):
    extra = ["--epochs=50", "--evaluate_split=none"]
    first = subprocess.Popen(
        _train_command(tiny_records, tmp_path, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(tmp_path / "checkpoints" / "epoch-001.index", first)
    second = subprocess.run(_train_command(tiny_records, tmp_path, *extra), capture_output=True, text=True)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}: a training job (pid {first.pid}) is using it; "
        "wait for it to end, or give another directory"
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    resumed = subprocess.run(
        _train_command(tiny_records, tmp_path, "--epochs=2", "--evaluate_split=none"),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]  # the killed job's lock went with it


def test_rerunning_a_finished_job_trains_nothing_and_warns_of_nothing(tiny_records, tmp_path):
    # Issue 22, item 14: the rerun printed about 34 "Value in checkpoint could not be found" warnings.
    command = _train_command(
        tiny_records, tmp_path, "--epochs=1", "--steps_per_epoch=2", "--evaluate_split=none"
    )
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "trained epochs none: already complete" in again.stdout
    assert "could not be found" not in again.stderr and "unrestored values" not in again.stderr
    weights = re.compile(r"final weights (\w+)")
    assert weights.search(again.stdout).group(1) == weights.search(first.stdout).group(1)


def test_checkpoint_debris_of_a_killed_run_is_removed(tiny_records, tmp_path):
    # Issue 22, items 8 and 13: 60-70 MB *_temp checkpoint directories stayed after a resume.
    for debris in (
        tmp_path / "checkpoints" / "epoch-002_temp",
        tmp_path / "backup" / "chief" / "ckpt-2_temp",
    ):
        debris.mkdir(parents=True)
        (debris / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half a checkpoint")
    trainer.train_and_evaluate(_config(tiny_records, epochs=1, evaluate_split="none"), str(tmp_path))
    assert not list(tmp_path.rglob("*_temp"))


def test_resuming_on_another_dataset_is_refused_unless_allowed(tiny_stead, tiny_records, tmp_path):
    # Issue 22, item 11: another --records trained the next epoch on another dataset, whose splits leak.
    other = tmp_path / "other-records"
    converter.convert(
        plan.ConvertConfig(
            pairs=tuple(stead.find_pairs(str(tiny_stead))),
            output_dir=str(other),
            split=splits.SplitConfig(validation_fraction=0.2, test_fraction=0.2, seed=2),
            min_shards=4,
            processes=1,
        ),
        progress=False,
    )
    copy = shutil.copytree(tiny_records, tmp_path / "copied-records")  # the same shards elsewhere
    model_dir = tmp_path / "model"
    trainer.train_and_evaluate(_config(tiny_records, epochs=1, evaluate_split="none"), str(model_dir))
    trainer.train_and_evaluate(_config(copy, epochs=2, evaluate_split="none"), str(model_dir))
    with pytest.raises(
        trainer.TrainingError,
        match=f"was trained on {tiny_records}; --records=.*other-records holds other shards",
    ):
        trainer.train_and_evaluate(_config(other, epochs=3, evaluate_split="none"), str(model_dir))
    assert _history_epochs(model_dir) == [0, 1]
    allowed = _config(other, epochs=3, evaluate_split="none", allow_recipe_change=True)
    assert len(trainer.train_and_evaluate(allowed, str(model_dir)).history["loss"]) == 1
    recipes = json.loads((model_dir / trainer.RECIPE_FILE).read_text())
    assert [(d["records"], d["first_epoch"]) for d in recipes] == [(str(tiny_records), 0), (str(other), 2)]


def test_a_rerun_with_fewer_epochs_keeps_the_record_of_what_was_trained(tiny_records, tmp_path):
    # Issue 22, item 11: a lower --epochs rewrote config.json to the smaller value.
    trainer.train_and_evaluate(
        _config(tiny_records, epochs=2, evaluate_split="none"), str(tmp_path), "--epochs=2"
    )
    recorded = {name: (tmp_path / name).read_text() for name in ("config.json", "flags.txt")}
    result = trainer.train_and_evaluate(
        _config(tiny_records, epochs=1, evaluate_split="none"), str(tmp_path), "--epochs=1"
    )
    assert result.history == {} and _history_epochs(tmp_path) == [0, 1]
    assert {name: (tmp_path / name).read_text() for name in recorded} == recorded
    assert json.loads(recorded["config.json"])["epochs"] == 2


def _sigterm_at(epoch: int, step: int):
    """A FirstStep.on_train_batch_end that also sends this process a SIGTERM at (epoch, step), 0-based."""
    original = callbacks.FirstStep.on_train_batch_end

    def on_train_batch_end(self, batch, logs=None):
        original(self, batch, logs)
        if (self.model._training_state._ckpt_saved_epoch.numpy(), batch) == (epoch, step):
            os.kill(os.getpid(), signal.SIGTERM)  # handled before the next callback runs

    return on_train_batch_end


def _steps_run(monkeypatch) -> list[int]:
    """The steps the next training runs (0-based within their epoch), recorded by FirstStep."""
    steps = []
    monkeypatch.setattr(
        callbacks.FirstStep, "on_train_batch_end", lambda self, batch, logs=None: steps.append(batch)
    )
    return steps


@pytest.mark.parametrize("epoch", [0, 1], ids=["first-epoch-of-a-new-run", "a-later-epoch"])
def test_sigterm_backs_up_the_step_and_the_same_command_resumes_after_it(
    tiny_records, tmp_path, monkeypatch, epoch
):
    # Issue 22, item 12: SIGTERM ended training at once, with no message, and lost the partial epoch.
    config = _config(tiny_records, epochs=2, steps_per_epoch=6, evaluate_split="none")
    monkeypatch.setattr(callbacks.FirstStep, "on_train_batch_end", _sigterm_at(epoch=epoch, step=2))
    with pytest.raises(
        callbacks.Preempted, match=rf"SIGTERM in epoch {epoch + 1} after step 3 of 6; .* resume at step 4"
    ):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert callbacks.Preempted.exit_code == 143 and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert (
        _history_epochs(tmp_path) == list(range(epoch)) and callbacks.completed_epochs(str(tmp_path)) == epoch
    )
    monkeypatch.undo()
    # Stopped again inside the resumed epoch: its step (a numpy integer after a restore) is backed up too.
    monkeypatch.setattr(callbacks.FirstStep, "on_train_batch_end", _sigterm_at(epoch=epoch, step=3))
    with pytest.raises(callbacks.Preempted, match=rf"in epoch {epoch + 1} after step 4 of 6"):
        trainer.train_and_evaluate(config, str(tmp_path))
    monkeypatch.undo()
    steps = _steps_run(monkeypatch)
    result = trainer.train_and_evaluate(config, str(tmp_path))
    assert steps == [4, 5] + [0, 1, 2, 3, 4, 5] * (1 - epoch)  # the rest of the epoch, then any epoch after
    assert len(result.history["loss"]) == 2 - epoch and _history_epochs(tmp_path) == [0, 1]
    assert callbacks.completed_epochs(str(tmp_path)) == 2


@pytest.mark.parametrize("step", [2, 3], ids=["second-to-last", "last"])
def test_sigterm_in_an_epochs_last_two_steps_lets_the_epoch_end_first(
    tiny_records, tmp_path, monkeypatch, step
):
    config = _config(tiny_records, epochs=3, steps_per_epoch=4, evaluate_split="none")
    monkeypatch.setattr(callbacks.FirstStep, "on_train_batch_end", _sigterm_at(epoch=0, step=step))
    with pytest.raises(callbacks.Preempted, match="in epoch 2 after step 1 of 4"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert _history_epochs(tmp_path) == [0] and (tmp_path / "checkpoints" / "epoch-001.index").exists()


@pytest.mark.slow
def test_sigterm_to_the_command_is_one_line_and_exit_143(tiny_records, tmp_path):
    process = subprocess.Popen(
        _train_command(tiny_records, tmp_path, "--epochs=100", "--evaluate_split=none"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(tmp_path / "checkpoints" / "epoch-002.index", process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    errors_printed = [line for line in stderr.splitlines() if line.startswith(("error", "Traceback"))]
    assert process.returncode == 143 and len(errors_printed) == 1, stderr[-2000:]
    assert re.match(r"error: stopped by SIGTERM in epoch \d+ after step \d+ of \d+", errors_printed[0])
    rerun = subprocess.run(
        _train_command(tiny_records, tmp_path, "--epochs=3", "--evaluate_split=none"),
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]


def test_augmented_training_runs_and_a_change_of_augmentation_is_refused_on_resume(tiny_records, tmp_path):
    augmented = {"augment_shift": 0.9, "augment_noise": 0.3, "augment_gain": 0.5}
    config = _config(tiny_records, epochs=1, evaluate_split="none", task="regression", **augmented)
    result = trainer.train_and_evaluate(config, str(tmp_path))
    assert np.isfinite(result.history["loss"]).all()
    recorded = json.loads((tmp_path / "config.json").read_text())["augment"]
    assert (recorded["shift"], recorded["noise"], recorded["gain"]) == (0.9, 0.3, 0.5)
    plain = _config(tiny_records, epochs=2, evaluate_split="none", task="regression")
    with pytest.raises(
        trainer.TrainingError, match=r"other augmentation or class weights \(shift=0.9, noise=0.3"
    ):
        trainer.train_and_evaluate(plain, str(tmp_path))
    allowed = _config(
        tiny_records, epochs=2, evaluate_split="none", task="regression", allow_recipe_change=True
    )
    assert len(trainer.train_and_evaluate(allowed, str(tmp_path)).history["loss"]) == 1
    recipes = json.loads((tmp_path / trainer.RECIPE_FILE).read_text())
    assert [(r["first_epoch"], r["recipe"]["shift"]) for r in recipes] == [(0, 0.9), (1, 0.0)]


RECOMMENDED_FLAGS = {f"augment_{k}": v for k, v in options.flat(augmentation.RECOMMENDED).items()}


@pytest.mark.parametrize(
    "job",
    [
        {"task": "classification"},
        {"task": "regression", "precision": "mixed_bfloat16"},
        {"task": "regression", "target": "s_arrival_sample"},  # labels moved, some out of the window
    ],
)
def test_training_augmented_in_the_step_compiles_with_xla_and_its_weights_are_the_plain_models(
    tiny_records, tmp_path, job
):
    config = _config(
        tiny_records, epochs=1, jit_compile=True, evaluate_split="test", **job, **RECOMMENDED_FLAGS
    )
    result = trainer.train_and_evaluate(config, str(tmp_path))
    assert np.isfinite(result.history["loss"]).all() and result.metrics["examples"] > 0
    # Every weight of the plain model the export is built from is in the checkpoint the training wrote.
    plain = config.make_task().build_model(config.model)
    plain.load_weights(str(tmp_path / "checkpoints" / "epoch-001")).assert_existing_objects_matched()


def test_deterministic_training_augmented_in_the_step_repeats_weight_for_weight_on_two_replicas(
    tiny_records, tmp_path
):
    config = _config(tiny_records, epochs=1, deterministic=True, evaluate_split="none", **RECOMMENDED_FLAGS)
    for run in "ab":
        trainer.train_and_evaluate(config, str(tmp_path / run), strategy=_mirrored())
    weights = [tf.train.load_checkpoint(str(tmp_path / run / "checkpoints" / "epoch-001")) for run in "ab"]
    names = [n for n in weights[0].get_variable_to_shape_map() if "layer_with_weights" in n]
    assert names and all(np.array_equal(weights[0].get_tensor(n), weights[1].get_tensor(n)) for n in names)


def test_noise_added_from_a_training_split_without_noise_is_a_one_line_error(tmp_path):
    generator.write_synthetic_stead(str(tmp_path / "stead"), earthquakes=40, noise=0, seed=1, processes=1)
    convert = plan.ConvertConfig(
        pairs=tuple(stead.find_pairs(str(tmp_path / "stead"))),
        output_dir=str(tmp_path / "records"),
        processes=1,
    )
    converter.convert(convert, progress=False)
    config = _config(tmp_path / "records", epochs=1, evaluate_split="none", augment_noise=0.3)
    with pytest.raises(
        errors.UserError, match=r"--augment_noise=0.3: .*records's train split has no noise traces"
    ):
        trainer.train_and_evaluate(config, str(tmp_path / "model"))
    assert not (tmp_path / "model" / "config.json").exists()  # refused before anything is written


def test_the_arrival_head_is_chosen_never_implied_and_a_resume_cannot_switch_it(tiny_records, tmp_path):
    arrival = {"task": "regression", "target": "p_arrival_sample", "evaluate_split": "test"}
    assert type(_config(tiny_records, augment_shift=0.9, **arrival).make_task()) is tasks.Regression
    moved = _config(tiny_records, epochs=1, augment_shift=0.9, head="arrival", **arrival)
    assert isinstance(moved.make_task(), tasks.ArrivalRegression)
    result = trainer.train_and_evaluate(moved, str(tmp_path))
    assert np.isfinite(result.history["loss"]).all()
    assert result.metrics["units"] == "samples" and np.isfinite(result.metrics["mae"])
    plain = _config(tiny_records, epochs=2, allow_recipe_change=True, **arrival)
    with pytest.raises(trainer.TrainingError, match=r"holds a model with different head \(head=arrival\)"):
        trainer.train_and_evaluate(plain, str(tmp_path))


def _history(model_dir) -> list[dict]:
    with open(model_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_early_stopping_ends_training_says_why_and_a_rerun_keeps_its_count(tiny_records, tmp_path):
    # Issue 20, item 5. A learning rate of 1e-12 leaves validation accuracy where it is: no epoch improves.
    still = {"learning_rate": 1e-12, "evaluate_split": "none", "epochs": 10}
    result = trainer.train_and_evaluate(
        _config(tiny_records, early_stopping_patience=2, **still), str(tmp_path)
    )
    assert len(result.history["loss"]) == 3  # the first epoch sets the best; two more without a better one
    assert [row["stopped"] for row in _history(tmp_path)] == ["", "", "early_stopping"]
    again = trainer.train_and_evaluate(
        _config(tiny_records, early_stopping_patience=2, **still), str(tmp_path)
    )
    assert again.history == {}  # the replayed count says training had stopped
    patient = trainer.train_and_evaluate(
        _config(tiny_records, early_stopping_patience=4, **still), str(tmp_path)
    )
    assert len(patient.history["loss"]) == 2 and _history_epochs(tmp_path) == [0, 1, 2, 3, 4]
    assert _history(tmp_path)[-1]["stopped"] == "early_stopping"


def test_a_plateau_lowers_the_learning_rate_and_a_resumed_run_goes_on_as_an_uninterrupted_one(
    tiny_records, tmp_path
):
    plateau = {
        "learning_rate": 1e-9,
        "reduce_lr_patience": 1,
        "reduce_lr_factor": 0.5,
        "min_learning_rate": 1e-12,
        "evaluate_split": "none",
    }
    trainer.train_and_evaluate(_config(tiny_records, epochs=4, **plateau), str(tmp_path / "whole"))
    trainer.train_and_evaluate(_config(tiny_records, epochs=2, **plateau), str(tmp_path / "resumed"))
    trainer.train_and_evaluate(_config(tiny_records, epochs=4, **plateau), str(tmp_path / "resumed"))
    for run in ("whole", "resumed"):
        rates = [float(row["lr"]) for row in _history(tmp_path / run)]
        assert rates == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10], rel=1e-5), run
    assert [row["stopped"] for row in _history(tmp_path / "resumed")] == ["", "epochs", "", "epochs"]


def test_class_weights_for_a_regressor_are_refused_before_the_directory_is_written(tiny_records, tmp_path):
    config = _config(tiny_records, task="regression", class_weight="balanced")
    with pytest.raises(errors.UserError, match="--class_weight=balanced: regression of source_magnitude"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert not {"config.json", "recipe.json", "flags.txt"} & {p.name for p in tmp_path.iterdir()}
