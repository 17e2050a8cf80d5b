"""Model directories and exports written by release 0.1.0 (tests/data/legacy-0.1.0) still load.

The fixtures were made by 0.1.0's own commands on a synthetic STEAD, with an
8 x 8 image so they stay small: `python -m techtonics.train --task=TASK
--epochs=2 --batch_size=8 --image_height=8 --image_width=8`.
"""

import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from techtonics.data import stead
from techtonics.model import export
from techtonics.prediction import predictor
from techtonics.training import trainer

LEGACY = pathlib.Path(__file__).parent / "data" / "legacy-0.1.0"
LEGACY_TASKS = ("classification", "regression")  # the tasks 0.1.0 had


@pytest.fixture
def legacy_model_dir(tmp_path, request):
    model_dir = tmp_path / request.param
    shutil.copytree(LEGACY / request.param, model_dir)
    return model_dir


@pytest.mark.parametrize("legacy_model_dir", LEGACY_TASKS, indirect=True)
def test_an_old_model_directory_resumes_exports_and_evaluates(legacy_model_dir, tiny_records):
    config = trainer.TrainConfig.load(str(legacy_model_dir), records=str(tiny_records))
    assert (config.model.image.height, config.input.batch_size, config.epochs) == (8, 8, 2)
    longer = dataclasses.replace(config, epochs=3)
    result = trainer.train_and_evaluate(longer, str(legacy_model_dir))
    assert len(result.history["loss"]) == 1  # epochs 1 and 2 came from the old backup
    rows = (legacy_model_dir / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == [0, 1, 2]
    assert result.metrics["task"] == config.task and result.metrics["examples"] > 0
    info = json.loads((legacy_model_dir / "export" / export.EXPORT_INFO).read_text())
    assert info["task"] == config.task and "records" not in info


@pytest.mark.parametrize("legacy_model_dir", LEGACY_TASKS, indirect=True)
def test_an_old_model_directory_is_evaluated_by_the_command(legacy_model_dir, tiny_records):
    metrics = trainer.evaluate_model_dir(str(legacy_model_dir), "validation", str(tiny_records))
    assert (
        metrics["split"] == "validation"
        and (legacy_model_dir / "eval" / "validation" / "metrics.json").exists()
    )


def test_old_exports_predict():
    paths = [str(LEGACY / task / "export") for task in LEGACY_TASKS]
    models = predictor.Predictor(paths, tf.distribute.get_strategy())
    assert models.columns == [
        "classification.p_noise",
        "classification.p_earthquake",
        "regression.source_magnitude",
    ]
    waveforms = np.random.default_rng(0).normal(0, 50, (3, *stead.WAVEFORM_SHAPE)).astype(np.float32)
    answers = models.predict(waveforms)
    np.testing.assert_allclose(
        answers["classification.p_noise"] + answers["classification.p_earthquake"], 1.0, rtol=1e-6
    )
    assert np.isfinite(answers["regression.source_magnitude"]).all()
