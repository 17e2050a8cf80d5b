"""Evaluating an exported model on a split of a converted dataset: metrics.json and figures.

Runs the exported model (exactly what users deploy) over every example of
the split, in file order, and writes into MODEL_DIR/eval/SPLIT/ the task's
metrics (training/metrics.py) and figures (training/figures.py), the
training curves, and a grid of input images with true and predicted labels.
It also scores the split with every earthquake's P moved to each of
OFFSETS_S, as training's augmentation moves it (p_offset in metrics.json, and
a figure): STEAD puts P 4-9 s into the window, continuous data anywhere.
The trainer hands over the model it has just exported, its task, dataset and
input settings; trainer.evaluate_model_dir (python -m techtonics.evaluate)
rebuilds them from a model directory. A task that chooses a decision
threshold (the classifier: best F1) reads the validation split too, and the
threshold chosen there is recorded in the export (model/export.py).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

from techtonics.core import fileio
from techtonics.data.converted import ConvertedDataset
from techtonics.model import export
from techtonics.training import augmentation, evaluation_kinds, figures, input_pipeline, tasks

OFFSETS_S = (1.0, 5.0, 15.0, 30.0, 45.0)  # where P is placed, seconds into the window


@dataclasses.dataclass(frozen=True)
class SplitPredictions:
    """A model's answers on every example of a split, in file order, beside what evaluation compares."""

    values: dict[str, np.ndarray]  # each of the task's declared outputs that is a column, by name
    metadata: dict[str, np.ndarray]  # input_pipeline.METADATA_FIELDS, label and the truth fields
    grid_index: np.ndarray  # examples shown in the grid, by position
    grid_images: np.ndarray  # their model input images


def place_p(p_at_s: float):
    """An op over a parsed batch of records (input_pipeline's before_labels): every earthquake's P moved
    p_at_s seconds into the window, as training's shift moves it, before the task labels the batch."""
    placement = augmentation.AugmentConfig(shift=1.0, shift_min_s=p_at_s, shift_max_s=p_at_s)
    # The place is fixed, so the seed draws nothing that matters.
    return lambda features: augmentation.augment(features, tf.constant([0, 0], tf.int64), placement)


def predict_split(
    model,
    task: tasks.Task,
    converted: ConvertedDataset,
    split: str,
    config: input_pipeline.InputConfig,
    p_at_s: float | None = None,
    grid_quota: dict[int, int] | None = None,
) -> SplitPredictions:
    """The model (an export, in memory or loaded: `serve` and `spectrogram`) on every example of a split.

    p_at_s: every earthquake's P moved this many seconds into the window first. grid_quota: how many
    examples of each class to keep the input images of.
    """
    placed = None if p_at_s is None else place_p(p_at_s)
    ds, _ = input_pipeline.split_dataset(converted, split, config, task, training=False, before_labels=placed)
    outputs = {name: o for name, o in task.outputs().items() if o.is_column}
    quota = dict(grid_quota or {})
    values, metadata, grid_index, grid_images, seen = [], [], [], [], 0
    for batch in ds:
        waveform = batch["waveform"]
        answer = model.serve(waveform)
        values.append({name: o.read(answer).numpy() for name, o in outputs.items()})
        metadata.append({k: v.numpy() for k, v in batch.items() if k not in ("waveform", "y")})
        for cls, wanted in quota.items():
            picked = np.flatnonzero(metadata[-1]["label"] == cls)[:wanted]
            quota[cls] -= picked.size
            if picked.size:
                grid_index.append(seen + picked)
                grid_images.append(model.spectrogram(tf.gather(waveform, picked))["image"].numpy())
        seen += len(metadata[-1]["label"])
    return SplitPredictions(
        {k: np.concatenate([v[k] for v in values]) for k in outputs},
        {k: np.concatenate([m[k] for m in metadata]) for k in metadata[0]},
        np.concatenate(grid_index) if grid_index else np.zeros(0, np.int64),
        np.concatenate(grid_images) if grid_images else np.zeros(0, np.float32),
    )


def evaluate(
    model,
    task: tasks.Task,
    converted: ConvertedDataset,
    split: str,
    config: input_pipeline.InputConfig,
    model_dir: str,
    export_path: str | None = None,
) -> dict:
    """Writes MODEL_DIR/eval/SPLIT/metrics.json and figures; returns the metrics.

    Each kind of output the task declares adds its metrics and figures (evaluation_kinds.of).
    export_path: the export (of `model`) that records the decision threshold
    chosen on the validation split; None: metrics.json alone names it.
    """
    kinds = evaluation_kinds.of(task)
    # The grid shows the model's input images, of the first kind that titles them.
    shows = next((kind for kind in kinds if kind.grid_quota()), None) if task.reads_image else None
    result = predict_split(model, task, converted, split, config, grid_quota=shows and shows.grid_quota())
    validation = None
    chooses_threshold = any(kind.chooses_threshold for kind in kinds)
    if chooses_threshold and not converted.has("validation"):
        print(f"{converted.path}: no validation split to choose a decision threshold on; none is chosen")
    elif chooses_threshold:
        chosen_on = (
            result if split == "validation" else predict_split(model, task, converted, "validation", config)
        )
        validation = (chosen_on.values, chosen_on.metadata)
    out_dir = fileio.join(model_dir, "eval", split)
    fileio.makedirs(out_dir)
    history = fileio.join(model_dir, "history.csv")
    paths = [figures.training_curves(history, out_dir)] if fileio.exists(history) else []
    metrics = {}
    for kind in kinds:
        kind_metrics, kind_figures = kind.metrics(result.values, result.metadata, out_dir, validation)
        metrics.update(kind_metrics)
        paths += kind_figures
    # A generator: one placement's answers in memory at a time, not all five splits' at once.
    placed = (predict_split(model, task, converted, split, config, p_at_s=o) for o in OFFSETS_S)
    by_offset = [
        {k: v for kind in kinds for k, v in kind.position_metrics(p.values, p.metadata, metrics).items()}
        for p in placed
    ]
    metrics["p_offset"] = {
        "offsets_s": list(OFFSETS_S),
        **{k: [m[k] for m in by_offset] for k in by_offset[0]},
    }
    paths.append(figures.position_robustness(metrics["p_offset"], task.describe(), out_dir))
    if result.grid_index.size:
        texts = [shows.grid_text(result.values, result.metadata, i) for i in result.grid_index]
        names = [result.metadata["trace_name"][i].decode() for i in result.grid_index]
        true_text, predicted_text = [t for t, _ in texts], [p for _, p in texts]
        paths.append(figures.example_grid(result.grid_images, names, true_text, predicted_text, out_dir))
    metrics.update(split=split, task=task.name, figures=[p.rsplit("/", 1)[-1] for p in paths])
    fileio.write_atomic(
        fileio.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    )
    if export_path and "threshold" in metrics:
        export.record_threshold(export_path, {**metrics["threshold"], "records": converted.path})
    return metrics
