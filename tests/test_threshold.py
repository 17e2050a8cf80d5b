"""The field's benchmark metrics: exact ROC AUC, the F1-optimal threshold chosen on validation, and
`predict --threshold=auto` using the threshold the export records."""

import itertools
import json

import numpy as np
import obspy
import pytest

from techtonics.core import errors, options
from techtonics.data.converted import ConvertedDataset
from techtonics.model import export
from techtonics.prediction import inputs, predictor
from techtonics.testing.exports import export_untrained
from techtonics.training import evaluation, evaluation_kinds, input_pipeline, metrics, tasks, trainer


def _pairs_auc(positive, scores) -> float:
    """ROC AUC by its definition: the share of (positive, negative) pairs ordered, ties half."""
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for p, n in itertools.product(scores[positive], scores[~positive])
    ]
    return float(np.mean(pairs))


def _best_f1(positive, scores) -> float:
    """The highest F1 of `scores >= t` over every distinct score t, one threshold at a time."""
    return max(metrics.at_threshold(positive, scores, t)["f1"] for t in np.unique(scores))


def test_a_hand_computed_example():
    positive = np.array([0, 0, 0, 1, 1, 1, 1], bool)
    scores = np.array([0.1, 0.2, 0.7, 0.8, 0.9, 0.6, 0.3])
    # 10 of the 12 (earthquake, noise) pairs are ordered: 0.6 and 0.3 fall below the noise at 0.7.
    assert metrics.roc_auc(positive, scores) == pytest.approx(10 / 12, abs=1e-12)
    # F1 by threshold: 0.9: 2/5, 0.8: 4/6, 0.7: 4/7, 0.6: 6/8, 0.3: 8/9 (4 of 4 found, 1 false alarm),
    # 0.2: 8/10, 0.1: 8/11. The best calls 0.3 and above positive, so the threshold is midway to 0.2.
    threshold = metrics.best_f1_threshold(positive, scores)
    assert threshold == pytest.approx(0.25)
    assert metrics.at_threshold(positive, scores, threshold) == pytest.approx(
        {"precision": 4 / 5, "recall": 1.0, "f1": 8 / 9}
    )


def test_separated_scores_give_auc_1_reversed_0_and_a_threshold_between_the_classes():
    rng = np.random.default_rng(0)
    positive = rng.random(200) < 0.3
    scores = np.where(positive, rng.uniform(0.6, 1.0, 200), rng.uniform(0.0, 0.4, 200))
    assert metrics.roc_auc(positive, scores) == 1.0 and metrics.roc_auc(positive, 1 - scores) == 0.0
    threshold = metrics.best_f1_threshold(positive, scores)
    assert scores[~positive].max() < threshold < scores[positive].min()
    assert metrics.at_threshold(positive, scores, threshold)["f1"] == 1.0
    assert np.isnan(metrics.roc_auc(positive[positive], scores[positive]))  # one class: undefined
    assert metrics.best_f1_threshold(positive[~positive], scores[~positive]) is None


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_best_f1_equal_their_definitions_with_ties(seed):
    rng = np.random.default_rng(seed)
    positive = rng.random(60) < rng.uniform(0.2, 0.8)
    scores = np.round(rng.random(60) * 0.5 + positive * rng.uniform(0, 0.5), 1)  # many ties
    assert metrics.roc_auc(positive, scores) == pytest.approx(_pairs_auc(positive, scores), abs=1e-12)
    threshold = metrics.best_f1_threshold(positive, scores)
    assert metrics.at_threshold(positive, scores, threshold)["f1"] == pytest.approx(
        _best_f1(positive, scores)
    )


@pytest.fixture(scope="module")
def trained(tiny_records, tmp_path_factory):
    """A classifier trained briefly; the trainer evaluates it on the test split at the end."""
    model_dir = tmp_path_factory.mktemp("threshold_model")
    settings = {"epochs": 1, "batch_size": 8, "steps_per_epoch": 3}
    config = options.build(trainer.TrainConfig, settings, records=str(tiny_records))
    return model_dir, trainer.train_and_evaluate(config, str(model_dir)).metrics


def _answers(model_dir, records, split):
    loaded, info = export.load_exported(str(model_dir / "export"))
    return evaluation.predict_split(
        loaded,
        tasks.from_info(info),
        ConvertedDataset(str(records)),
        split,
        input_pipeline.InputConfig(batch_size=8),
    )


def test_evaluation_names_the_validation_threshold_and_the_export_records_it(trained, tiny_records):
    model_dir, test_metrics = trained
    written = json.loads((model_dir / "eval" / "test" / "metrics.json").read_text())
    threshold = written["threshold"]
    assert written == json.loads(json.dumps(test_metrics)) and threshold["chosen_on"] == "validation"
    validation = _answers(model_dir, tiny_records, "validation")
    positive, scores = validation.metadata["label"] == 1, validation.values["p_earthquake"]
    assert threshold["validation"]["f1"] == pytest.approx(_best_f1(positive, scores))
    assert threshold["validation"] == metrics.at_threshold(positive, scores, threshold["value"])
    test = _answers(model_dir, tiny_records, "test")
    assert written["at_threshold"] == metrics.at_threshold(
        test.metadata["label"] == 1, test.values["p_earthquake"], threshold["value"]
    )
    assert written["roc_auc"] == pytest.approx(
        _pairs_auc(test.metadata["label"] == 1, test.values["p_earthquake"])
    )
    info = json.loads((model_dir / "export" / export.EXPORT_INFO).read_text())
    assert info["threshold"]["value"] == threshold["value"] and info["threshold"]["records"] == str(
        tiny_records
    )
    assert "at threshold" in evaluation_kinds.summary(tasks.from_info(written), written)
    # The command evaluates a split again with the same threshold; on another dataset it leaves the export's.
    again = trainer.evaluate_model_dir(str(model_dir), "validation")
    assert again["threshold"]["value"] == threshold["value"]
    assert again["at_threshold"] == threshold["validation"]
    (model_dir / "export" / export.EXPORT_INFO).write_text(
        json.dumps({**info, "threshold": {"value": 0.123}})
    )
    trainer.evaluate_model_dir(str(model_dir), "test", str(tiny_records))
    assert (
        export.recorded_threshold(json.loads((model_dir / "export" / export.EXPORT_INFO).read_text()))
        == 0.123
    )
    (model_dir / "export" / export.EXPORT_INFO).write_text(json.dumps(info))


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("threshold_stream") / "noise.mseed"
    noise = np.random.default_rng(0).normal(0, 50, (3, 9000)).astype(np.float32)
    traces = [
        obspy.Trace(data, {"network": "SY", "station": "TEST", "channel": f"HH{c}", "sampling_rate": 100.0})
        for data, c in zip(noise, "ENZ")
    ]
    obspy.Stream(traces).write(str(path), format="MSEED")
    return str(path)


def _predict(model, recording, output, **values) -> dict:
    config = options.build(
        predictor.PredictConfig, {"progress": False, **values}, models=(model,), output_dir=str(output)
    )
    return predictor.predict(config, inputs.waveforms_source([recording], 10.0, False))


def test_threshold_auto_is_the_default_and_uses_the_exports(trained, recording, tmp_path, capsys):
    model_dir, test_metrics = trained
    summary = _predict(str(model_dir / "export"), recording, tmp_path / "auto")
    assert summary["threshold"] == test_metrics["threshold"]["value"]
    assert f"--threshold=auto: {summary['threshold']:.4g}" in capsys.readouterr().out
    assert (
        _predict(str(model_dir / "export"), recording, tmp_path / "given", threshold="0.75")["threshold"]
        == 0.75
    )


def test_an_export_without_a_threshold_falls_back_to_one_half_in_a_line(recording, tmp_path, capsys):
    untrained = export_untrained(str(tmp_path / "untrained" / "export"), "classification")
    assert _predict(untrained, recording, tmp_path / "out")["threshold"] == 0.5
    assert "records no decision threshold" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, message",
    [
        ("high", "give a probability in \\(0, 1\\] or auto"),
        ("0", "must be in \\(0, 1\\]"),
        ("1.5", "must be"),
    ],
)
def test_a_bad_threshold_is_one_line_naming_the_flag(value, message):
    with pytest.raises(errors.UserError, match=f"^--threshold={value}: {message}"):
        options.build(predictor.PredictConfig, {"threshold": value}, models=("m",), output_dir="out")
