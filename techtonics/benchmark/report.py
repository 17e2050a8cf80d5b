"""What the pick-benchmark shows beside the field's CSVs: each model's benchmark.json, one table of every
model and metric, and figures (task 1's ROC curve, task 3's residuals of P and S onsets on test)."""

from __future__ import annotations

import json

import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics as sk_metrics

from techtonics.core import fileio
from techtonics.training import figures

# The table's rows: the field's headline figures on test first, then every other metric in its order.
HEADLINE = (
    "test_det_auc",
    "test_det_f1",
    "test_phase_mcc",
    "test_P_mae_s",
    "test_P_std_s",
    "test_S_mae_s",
    "test_S_std_s",
)


def write_metrics(stats: dict, model_dir: str) -> str:
    """model_dir/benchmark.json (atomically): the metrics, named as collect_results.py names them."""
    path = fileio.join(model_dir, "benchmark.json")
    fileio.write_atomic(path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return path


def table(stats_of: dict[str, dict]) -> str:
    """A markdown table: a row per metric (headline first), a column per model; empty where a model
    answers no such task."""
    names = [n for n in HEADLINE if any(n in s for s in stats_of.values())]
    names += sorted({n for s in stats_of.values() for n in s} - set(names))
    lines = ["| metric | " + " | ".join(stats_of) + " |", "| --- |" + " --- |" * len(stats_of)]
    for name in names:
        cells = [f"{s[name]:.4g}" if name in s else "" for s in stats_of.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def draw(predictions: dict[str, pd.DataFrame], stats: dict, model_dir: str) -> list[str]:
    """roc.png (task 1, where it was scored) and onset_residuals.png (task 3) of the test split;
    predictions: {"test_task1": rows, "test_task23": rows} as written; stats: the model's metrics."""
    written = []
    detection = predictions.get("test_task1")
    if "test_det_auc" in stats:
        truth = detection.trace_type == "earthquake"
        false_positive, true_positive, _ = sk_metrics.roc_curve(truth, detection.score_detection)
        figure = Figure(figsize=(4.5, 4.5))
        axes = figure.subplots()
        axes.plot(false_positive, true_positive, label=f"AUC {stats['test_det_auc']:.4f}")
        axes.plot([0, 1], [0, 1], color="0.7", linestyle="--")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", title="Task 1: detection (test)")
        axes.legend(loc="lower right")
        written.append(fileio.write_figure(figure, model_dir, "roc.png"))
    onsets = predictions.get("test_task23")
    if onsets is not None and not onsets.empty:
        residuals = {
            phase: (rows[f"{phase.lower()}_sample_pred"] - rows.phase_onset) / rows.sampling_rate
            for phase, rows in onsets.groupby("phase_label")
        }
        written.append(figures.onset_residuals(residuals, "Task 3 (test)", model_dir))
    return written
