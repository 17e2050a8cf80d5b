"""Evaluating an exported model on a split of a converted dataset: metrics.json and figures.

Runs the exported model (exactly what users deploy) over every example of
the split, in file order, and writes into MODEL_DIR/eval/SPLIT/ the task's
metrics (training/metrics.py) and figures (training/figures.py), the
training curves, and a grid of input images with true and predicted labels.
The trainer hands over the model it has just exported, its task, dataset and
input settings; trainer.evaluate_model_dir (python -m techtonics.evaluate)
rebuilds them from a model directory.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

from techtonics.core import fileio
from techtonics.data.converted import ConvertedDataset
from techtonics.training import figures, input_pipeline, tasks


@dataclasses.dataclass(frozen=True)
class SplitPredictions:
    """A model's answers on every example of a split, in file order, beside what evaluation compares."""

    predicted: np.ndarray  # the export's answer: (n, classes) probabilities or (n,) values
    truth: np.ndarray  # the task's truth per example
    metadata: dict[str, np.ndarray]  # input_pipeline.METADATA_FIELDS, label and the truth field
    grid_index: np.ndarray  # examples shown in the grid, by position
    grid_images: np.ndarray  # their model input images


def predict_split(
    model, task: tasks.Task, converted: ConvertedDataset, split: str, config: input_pipeline.InputConfig
) -> SplitPredictions:
    """The model (an export, in memory or loaded: `serve` and `spectrogram`) on every example of a split."""
    ds, _ = input_pipeline.split_dataset(converted, split, config, task, training=False, metadata=True)
    quota = task.grid_quota()
    outputs, metadata, grid_index, grid_images, seen = [], [], [], [], 0
    for waveform, _, extra in ds:
        outputs.append(model.serve(waveform)[task.output_name].numpy())
        metadata.append({k: v.numpy() for k, v in extra.items()})
        for cls, wanted in quota.items():
            picked = np.flatnonzero(metadata[-1]["label"] == cls)[:wanted]
            quota[cls] -= picked.size
            if picked.size:
                grid_index.append(seen + picked)
                grid_images.append(model.spectrogram(tf.gather(waveform, picked))["image"].numpy())
        seen += len(outputs[-1])
    meta = {k: np.concatenate([m[k] for m in metadata]) for k in metadata[0]}
    return SplitPredictions(
        np.concatenate(outputs),
        task.truth(meta),
        meta,
        np.concatenate(grid_index),
        np.concatenate(grid_images),
    )


def evaluate(
    model,
    task: tasks.Task,
    converted: ConvertedDataset,
    split: str,
    config: input_pipeline.InputConfig,
    model_dir: str,
) -> dict:
    """Writes MODEL_DIR/eval/SPLIT/metrics.json and figures; returns the metrics."""
    result = predict_split(model, task, converted, split, config)
    out_dir = fileio.join(model_dir, "eval", split)
    fileio.makedirs(out_dir)
    history = fileio.join(model_dir, "history.csv")
    paths = [figures.training_curves(history, out_dir)] if fileio.exists(history) else []
    metrics, task_figures = task.evaluate(result.truth, result.predicted, result.metadata, out_dir)
    paths += task_figures
    shown = result.grid_index
    texts = [task.grid_text(result.truth[i], result.predicted[i]) for i in shown]
    names = [result.metadata["trace_name"][i].decode() for i in shown]
    true_text, predicted_text = [t for t, _ in texts], [p for _, p in texts]
    paths.append(figures.example_grid(result.grid_images, names, true_text, predicted_text, out_dir))
    metrics.update(split=split, task=task.name, figures=[p.rsplit("/", 1)[-1] for p in paths])
    fileio.write_atomic(
        fileio.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    )
    return metrics
