"""Evaluation metrics of predictions against the truth, in numpy: what metrics.json reports.

ROC AUC, the F1-optimal threshold and the figures at it are scikit-learn's,
over every distinct score (`score >= threshold` is positive), the functions
the field's benchmark (Münchmeyer et al. 2022, pick-benchmark task 1)
computes them with; the ROC and PR curves drawn in the figures use 1,001
fixed thresholds.
"""

from __future__ import annotations

import numpy as np
import tf_keras
from sklearn import metrics as sk_metrics

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
        "roc_auc": roc_auc(labels == stead.EARTHQUAKE_CLASS, scores),
        "pr_auc": float(aucs["PR"].result()),
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": ["true class", "predicted class", list(stead.CLASS_NAMES)],
    }
    return metrics, curves


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve through every distinct threshold (scikit-learn's, as the field computes
    it); NaN when the examples hold only one class."""
    if np.unique(positive).size < 2:
        return float("nan")
    return float(sk_metrics.roc_auc_score(positive, scores))


def at_threshold(positive: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Precision, recall and F1 of calling `scores >= threshold` positive (0 where undefined)."""
    precision, recall, f1, _ = sk_metrics.precision_recall_fscore_support(
        positive.astype(bool), scores >= threshold, average="binary", zero_division=0.0
    )
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def best_f1_threshold(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """The threshold of highest F1 over every distinct score (scikit-learn's precision_recall_curve); None
    when no example is positive.

    Between two neighbouring scores every threshold calls the same examples
    positive, so the one returned is the midpoint between the lowest score it
    calls positive and the next lower score (the lowest score itself when it
    calls every example positive): the examples' F1 at it is the maximum, and
    scores that fall between the two classes' are split evenly. Among equal
    F1, the highest threshold (the fewest false alarms).
    """
    positive = positive.astype(bool)
    if not positive.any():
        return None
    precision, recall, thresholds = sk_metrics.precision_recall_curve(positive, scores)
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1]))
    lowest_called = float(thresholds[np.flatnonzero(f1 == f1.max())[-1]])  # thresholds rise: the last
    below = scores[scores < lowest_called]
    if not below.size:
        return lowest_called
    middle = (lowest_called + float(below.max())) / 2
    return middle if middle > below.max() else lowest_called  # neighbours too close to split


def decision_threshold(labels: np.ndarray, probabilities: np.ndarray) -> dict | None:
    """metrics.json's `threshold`, chosen on these (validation) examples: the earthquake probability of
    highest F1, and precision, recall and F1 at it; None when no example is an earthquake."""
    positive, scores = labels == stead.EARTHQUAKE_CLASS, probabilities[:, stead.EARTHQUAKE_CLASS]
    threshold = best_f1_threshold(positive, scores)
    if threshold is None:
        return None
    return {
        "value": threshold,
        "chosen_on": "validation",
        "maximises": "f1",
        "validation": at_threshold(positive, scores, threshold),
    }


def residual_summary(residual: np.ndarray) -> tuple[float, float, float]:
    """(mean, root mean square, mean absolute value) of residuals, as the field reports onset errors."""
    residual = np.asarray(residual, np.float64)
    return float(np.mean(residual)), float(np.sqrt(np.mean(residual**2))), float(np.mean(np.abs(residual)))


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
