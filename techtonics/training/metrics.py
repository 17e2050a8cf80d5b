"""Evaluation metrics of predictions against the truth, in numpy: what metrics.json reports."""

from __future__ import annotations

import numpy as np
import tf_keras

from techtonics.data import stead

THRESHOLDS = 1001  # of the ROC and PR curves


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
