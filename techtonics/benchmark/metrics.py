"""The pick-benchmark's metrics, named and computed as the field's collect_results.py computes them.

Thresholds are chosen on dev and applied to test, with scikit-learn's
functions, so the numbers are the field's:
- task 1 (detection): ROC AUC; precision, recall and F1 at the threshold of
  the best F1 on dev (precision_recall_curve);
- task 2 (phase identification, score_p_or_s high means P): the MCC at the
  best of 50 candidate thresholds (quantiles of the dev scores), and
  precision, recall and F1 at the best-F1 threshold;
- task 3 (onset time), for P and S apart: the residual's mean, its root
  mean square (which the field's tables call "std") and its mean absolute
  value, in seconds.
Names follow collect_results.py: dev_det_auc, test_det_f1, det_threshold,
test_phase_mcc, test_P_mae_s, test_S_std_s, ...
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as sk_metrics

from techtonics.training.metrics import residual_summary, roc_auc

MCC_CANDIDATES = 50


def _best_f1(truth: np.ndarray, score: np.ndarray) -> tuple[float, float, float, float]:
    """(precision, recall, F1, threshold) at the threshold of the best F1."""
    precision, recall, thresholds = sk_metrics.precision_recall_curve(truth, score)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    best = int(np.nanargmax(f1[:-1]))  # the curve's last point (recall 0) has no threshold
    return float(precision[best]), float(recall[best]), float(f1[best]), float(thresholds[best])


def _at(truth: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) of `score > threshold` (the field's strict side; evaluation's is >=)."""
    precision, recall, f1, _ = sk_metrics.precision_recall_fscore_support(
        truth, score > threshold, average="binary", zero_division=0.0
    )
    return float(precision), float(recall), float(f1)


def unscoreable(dev: pd.DataFrame, test: pd.DataFrame, truth: str, positive: str) -> str | None:
    """Why a task cannot be scored on these rows (a split without rows, or a dev split of one class, where
    no threshold can be chosen); None when it can."""
    if dev.empty or test.empty:
        return "no_rows_in_a_split"
    if (dev[truth] == positive).all() or not (dev[truth] == positive).any():
        return "one_class_in_dev"
    return None


def detection(dev: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Task 1 from the {dev,test}_task1.csv rows (trace_type, score_detection)."""
    dev_truth, test_truth = (rows.trace_type.to_numpy() == "earthquake" for rows in (dev, test))
    precision, recall, f1, threshold = _best_f1(dev_truth, dev.score_detection.to_numpy())
    stats = {
        "dev_det_precision": precision,
        "dev_det_recall": recall,
        "dev_det_f1": f1,
        "dev_det_auc": roc_auc(dev_truth, dev.score_detection.to_numpy()),
        "det_threshold": threshold,
    }
    precision, recall, f1 = _at(test_truth, test.score_detection.to_numpy(), threshold)
    return {
        **stats,
        "test_det_precision": precision,
        "test_det_recall": recall,
        "test_det_f1": f1,
        "test_det_auc": roc_auc(test_truth, test.score_detection.to_numpy()),
    }


def _phase(dev: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Task 2 as the field computes it: scores clipped to +-1e100 (a model without S can say P infinitely),
    the F1 threshold from the rows with a score, the MCC's over every answered row (no score: not P)."""
    dev_score, test_score = (np.clip(rows.score_p_or_s.to_numpy(), -1e100, 1e100) for rows in (dev, test))
    dev_truth, test_truth = (rows.phase_label.to_numpy() == "P" for rows in (dev, test))
    scored = ~np.isnan(dev_score)
    precision, recall, f1, threshold = _best_f1(dev_truth[scored], dev_score[scored])
    candidates = np.sort(dev_score)[np.linspace(0, len(dev_score) - 1, MCC_CANDIDATES, dtype=int)]
    mccs = [sk_metrics.matthews_corrcoef(dev_truth, dev_score > c) for c in candidates]
    mcc_threshold = float(candidates[int(np.argmax(mccs))])
    stats = {
        "dev_phase_precision": precision,
        "dev_phase_recall": recall,
        "dev_phase_f1": f1,
        "phase_threshold": threshold,
        "dev_phase_mcc": float(np.max(mccs)),
        "phase_threshold_mcc": mcc_threshold,
    }
    scored = ~np.isnan(test_score)
    precision, recall, f1 = _at(test_truth[scored], test_score[scored], threshold)
    return {
        **stats,
        "test_phase_precision": precision,
        "test_phase_recall": recall,
        "test_phase_f1": f1,
        "test_phase_mcc": float(sk_metrics.matthews_corrcoef(test_truth, test_score > mcc_threshold)),
    }


def _onsets(rows: pd.DataFrame, split: str) -> dict[str, float]:
    """Task 3 of one split: per phase the model picks, the residual (pick - onset) in seconds: mean, RMS
    ("std") and mean absolute value."""
    stats = {}
    for phase in ("P", "S"):
        of_phase = rows[rows.phase_label == phase]
        picks = of_phase[f"{phase.lower()}_sample_pred"]
        if picks.isna().all():  # no such onsets, or a model that does not pick this phase
            continue
        residual = (picks - of_phase.phase_onset) / of_phase.sampling_rate
        names = (f"{split}_{phase}_{m}_s" for m in ("mean", "std", "mae"))
        stats.update(zip(names, residual_summary(residual)))
    return stats


def phase_and_onset(dev: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Tasks 2 and 3 from the {dev,test}_task23.csv rows; rows the model answered nothing for are left out,
    and task 2 only where the model scores phases at all (a finite score in both splits)."""

    def answered(rows: pd.DataFrame) -> pd.DataFrame:
        nothing = rows[["p_sample_pred", "s_sample_pred", "score_p_or_s"]].isna().all(axis=1)
        return rows[~nothing]

    dev, test = answered(dev), answered(test)
    stats = {}
    if all(np.isfinite(rows.score_p_or_s.to_numpy()).any() for rows in (dev, test)):
        stats.update(_phase(dev, test))
    return {**stats, **_onsets(dev, "dev"), **_onsets(test, "test")}
