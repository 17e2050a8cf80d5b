"""Evaluating an exported model on a split: metrics.json and figures.

    python -m techtonics.evaluate --model_dir=models/classification --split=test

Runs the exported SavedModel (exactly what users deploy) over every example
of the split, in file order, and writes into MODEL_DIR/eval/SPLIT/:
- metrics.json: classification: accuracy, precision, recall and F1 of the
  earthquake class, ROC AUC, PR AUC, the confusion matrix; regression: MAE,
  RMSE, R^2, mean and std of the error (prediction - truth), in the target's
  units;
- figures (figures.py): training curves, and the confusion matrix, ROC and
  PR curves, or predicted against true, the residual histogram and residual
  against SNR and distance; a grid of input images with true and predicted
  labels.
The trainer runs this at the end; run it again for another split.
"""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf
import tf_keras
from absl import flags

from techtonics import data, errors, figures, fileio, models, splits, stead

THRESHOLDS = 1001  # of the ROC and PR curves
GRID_EXAMPLES = 16


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> tuple[dict, dict]:
    """(metrics, curves) for true class indices and (n, 2) probabilities; earthquake is positive."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((2, 2), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    (tn, fp), (fn, tp) = confusion
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    scores = probabilities[:, stead.EARTHQUAKE_CLASS]
    aucs = {}
    for curve in ("ROC", "PR"):
        auc = tf_keras.metrics.AUC(num_thresholds=THRESHOLDS, curve=curve)
        auc.update_state(labels == stead.EARTHQUAKE_CLASS, scores)
        aucs[curve] = auc
    counts = {
        k: getattr(aucs["ROC"], k).numpy() for k in ("true_positives", "false_positives", "false_negatives")
    }
    counts["true_negatives"] = aucs["ROC"].true_negatives.numpy()
    positives = np.maximum(counts["true_positives"] + counts["false_negatives"], 1)
    negatives = np.maximum(counts["false_positives"] + counts["true_negatives"], 1)
    predicted_positive = np.maximum(counts["true_positives"] + counts["false_positives"], 1)
    curves = {
        "false_positive_rate": counts["false_positives"] / negatives,
        "true_positive_rate": counts["true_positives"] / positives,
        "precision": np.where(
            counts["true_positives"] + counts["false_positives"] > 0,
            counts["true_positives"] / predicted_positive,
            1.0,
        ),
        "recall": counts["true_positives"] / positives,
        "confusion": confusion,
    }
    metrics = {
        "examples": int(labels.size),
        "accuracy": float((predicted == labels).mean()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "roc_auc": float(aucs["ROC"].result()),
        "pr_auc": float(aucs["PR"].result()),
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": ["true class", "predicted class", list(stead.CLASS_NAMES)],
    }
    return metrics, curves


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """MAE, MSE, RMSE, R^2 and the mean and std of predicted - truth."""
    error = predicted.astype(np.float64) - truth
    total = ((truth - truth.mean()) ** 2).sum()
    return {
        "examples": int(truth.size),
        "mae": float(np.abs(error).mean()),
        "mse": float((error**2).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": float(1.0 - (error**2).sum() / total) if total > 0 else 0.0,
        "error_mean": float(error.mean()),
        "error_std": float(error.std()),
        "target_std": float(truth.std()),
    }


def _grid_quota(task: str) -> dict[int, int]:
    """Examples of each class in the grid: half noise, half earthquakes; regression sees earthquakes only."""
    if task == "classification":
        return {c: GRID_EXAMPLES // len(stead.CLASS_NAMES) for c in range(len(stead.CLASS_NAMES))}
    return {stead.EARTHQUAKE_CLASS: GRID_EXAMPLES}


def predict_split(model_dir: str, split: str, records_path: str | None = None, batch_size: int = 256):
    """The exported model on every example of a split, in file order.

    model_dir: a model directory with export/; records_path: the records to
    read instead of those the model was trained on; batch_size: examples per
    call of the model.

    Returns (info, predictions, truth, metadata, grid), where grid holds the
    indices and model input images of a few examples of each class.
    """
    loaded, info = models.load_exported(fileio.join(model_dir, "export"))
    records = data.Records(records_path or info["records"])
    config = data.InputConfig(
        task=info["task"], target=info.get("target", "source_magnitude"), batch_size=batch_size
    )
    ds, _ = data.split_dataset(records, split, config, training=False, metadata=True)
    serve, spectrogram = loaded.signatures["serving_default"], loaded.signatures["spectrogram"]
    output = "probabilities" if info["task"] == "classification" else info["target"]
    quota = _grid_quota(info["task"])
    outputs, metadata, grid_index, grid_images, seen = [], [], [], [], 0
    for waveform, _, extra in ds:
        outputs.append(serve(waveform=waveform)[output].numpy())
        metadata.append({k: v.numpy() for k, v in extra.items()})
        for cls, wanted in quota.items():
            picked = np.flatnonzero(metadata[-1]["label"] == cls)[:wanted]
            quota[cls] -= picked.size
            if picked.size:
                grid_index.append(seen + picked)
                grid_images.append(spectrogram(waveform=tf.gather(waveform, picked))["image"].numpy())
        seen += len(outputs[-1])
    meta = {k: np.concatenate([m[k] for m in metadata]) for k in metadata[0]}
    truth = meta["label"] if info["task"] == "classification" else meta[info["target"]].astype(np.float64)
    grid = (np.concatenate(grid_index), np.concatenate(grid_images))
    return info, np.concatenate(outputs), truth, meta, grid


def evaluate(model_dir: str, split: str = "test", records_path: str | None = None) -> dict:
    """Writes MODEL_DIR/eval/SPLIT/metrics.json and figures; returns the metrics."""
    info, predictions, truth, meta, (shown, images) = predict_split(model_dir, split, records_path)
    out_dir = fileio.join(model_dir, "eval", split)
    fileio.makedirs(out_dir)
    history = fileio.join(model_dir, "history.csv")
    paths = [figures.training_curves(history, out_dir)] if fileio.exists(history) else []
    if info["task"] == "classification":
        metrics, curves = classification_metrics(truth, predictions)
        paths += figures.classification_figures(curves, out_dir)
        true_text = [stead.CLASS_NAMES[truth[i]] for i in shown]
        predicted_text = [
            f"{stead.CLASS_NAMES[predictions[i].argmax()]} {predictions[i].max():.2f}" for i in shown
        ]
    else:
        metrics = regression_metrics(truth, predictions)
        units = info["units"]
        metrics["target"], metrics["units"] = info["target"], units
        paths += figures.regression_figures(truth, predictions, meta, info["target"], units, out_dir)
        true_text = [f"{truth[i]:.2f}" for i in shown]
        predicted_text = [f"{predictions[i]:.2f}" for i in shown]
    names = [meta["trace_name"][i].decode() for i in shown]
    paths.append(figures.example_grid(images, names, true_text, predicted_text, out_dir))
    metrics.update(split=split, task=info["task"], figures=[p.rsplit("/", 1)[-1] for p in paths])
    fileio.write_atomic(
        fileio.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    )
    return metrics


def main(argv):
    """Command line: evaluates one split of a trained model and prints its metrics."""
    del argv
    f = flags.FLAGS
    metrics = evaluate(f.model_dir, f.split, f.records or None)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"figures in {fileio.join(f.model_dir, 'eval', f.split)}")


def define_flags() -> None:
    """The command line's flags; defined only when run as a program."""
    flags.DEFINE_string("model_dir", None, "A trained model directory (with export/).", required=True)
    flags.DEFINE_enum("split", "test", list(splits.SPLITS), "Split to evaluate.")
    flags.DEFINE_string(
        "records", "", "A converted dataset to read instead of the one the model was trained on."
    )


if __name__ == "__main__":
    define_flags()
    errors.run(main)
