"""Metrics on known predictions, and `python -m techtonics.evaluate` on a trained model."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from techtonics.core import options
from techtonics.data.converted import ConvertedDataset
from techtonics.training import evaluation, input_pipeline, tasks, trainer
from techtonics.training.metrics import classification_metrics, regression_metrics


def test_classification_metrics_on_known_predictions():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    earthquake = np.array([0.1, 0.2, 0.7, 0.8, 0.9, 0.6, 0.3])
    metrics, curves = classification_metrics(labels, np.stack([1 - earthquake, earthquake], axis=1))
    assert metrics["confusion_matrix"] == [[2, 1], [1, 3]]  # rows: true noise, earthquake
    assert metrics["accuracy"] == pytest.approx(5 / 7)
    assert metrics["precision"] == pytest.approx(3 / 4) and metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["f1"] == pytest.approx(3 / 4)
    assert metrics["roc_auc"] == pytest.approx(10 / 12, abs=0.01)  # 10 of 12 (noise, quake) pairs ordered
    assert curves["true_positive_rate"][0] == 1.0 and curves["false_positive_rate"][-1] == 0.0


def test_perfect_and_inverted_classifiers():
    labels = np.array([0, 1, 0, 1])
    perfect = np.eye(2)[labels] * 0.9 + 0.05
    metrics, _ = classification_metrics(labels, perfect)
    assert metrics["accuracy"] == metrics["f1"] == 1.0 and metrics["roc_auc"] == pytest.approx(1.0, abs=1e-3)
    metrics, _ = classification_metrics(labels, perfect[:, ::-1])
    assert metrics["accuracy"] == 0.0 and metrics["roc_auc"] == pytest.approx(0.0, abs=1e-3)


def test_regression_metrics_on_known_errors():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    metrics = regression_metrics(truth, truth + np.array([0.5, -0.5, 0.5, -0.5]))
    assert metrics["mae"] == metrics["rmse"] == pytest.approx(0.5)
    assert metrics["error_mean"] == pytest.approx(0.0) and metrics["error_std"] == pytest.approx(0.5)
    assert metrics["r2"] == pytest.approx(1 - 1.0 / 5.0)


@pytest.fixture(scope="module")
def trained(tiny_records, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model")
    settings = {"epochs": 1, "batch_size": 8, "steps_per_epoch": 2, "evaluate_split": "none"}
    config = options.build(trainer.TrainConfig, settings, records=str(tiny_records))
    trainer.train_and_evaluate(config, str(model_dir))
    return model_dir


def test_command_line_evaluates_another_split(trained, tiny_records):
    result = subprocess.run(
        [sys.executable, "-m", "techtonics.evaluate", f"--model_dir={trained}", "--split=validation"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((trained / "eval" / "validation" / "metrics.json").read_text())
    assert metrics["split"] == "validation"
    assert metrics["examples"] == ConvertedDataset(str(tiny_records)).count("validation")
    assert (
        "examples.png" in metrics["figures"] and (trained / "eval" / "validation" / "examples.png").exists()
    )
    # Issue 20, item 3: the split again with P at each offset, as training's augmentation places it.
    by_offset = metrics["p_offset"]
    assert by_offset["offsets_s"] == list(evaluation.OFFSETS_S) and "p_offset.png" in metrics["figures"]
    assert len(by_offset["recall"]) == len(by_offset["mean_p_earthquake"]) == len(evaluation.OFFSETS_S)
    assert all(0.0 <= r <= 1.0 for r in by_offset["recall"])


def test_an_export_of_another_task_than_the_model_directorys_is_refused(trained, tmp_path):
    # Issue 31, item 10: it was evaluated as the export's task, with exit 0.
    copy = tmp_path / "model"
    shutil.copytree(trained, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "task": "regression", "head": "dense"}))
    with pytest.raises(
        trainer.TrainingError,
        match=r"export holds a model of task=classification.*, but .*"
        r"config.json trained task=regression",
    ) as error:
        trainer.evaluate_model_dir(str(copy), "test")
    assert "\n" not in str(error.value) and not (copy / "eval" / "test").exists()


@pytest.mark.parametrize("offset_s", [1.0, 30.0])
def test_p_placed_at_an_offset_is_where_the_regressors_truth_says(tiny_records, offset_s):
    converted, task = ConvertedDataset(str(tiny_records)), tasks.get("regression", "p_arrival_sample")
    config = options.build(input_pipeline.InputConfig, {"batch_size": 8})
    placed = evaluation.place_p(offset_s)
    ds = input_pipeline.dataset(converted, "test", config, task, training=False, before_labels=placed)
    truth = np.concatenate([batch["p_arrival_sample"].numpy() for batch in ds])
    assert len(truth) == task.example_count(converted, "test")
    np.testing.assert_array_equal(truth, offset_s * 100)
    plain = input_pipeline.dataset(converted, "test", config, task, training=False)
    before = np.concatenate([batch["p_arrival_sample"].numpy() for batch in plain])
    assert not np.array_equal(before, truth)  # STEAD puts P 4-9 s in: every trace was moved


def test_a_directory_without_an_export_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "techtonics.evaluate", f"--model_dir={tmp_path}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {tmp_path}: not a model directory (no config.json)")
    )
