"""Exported models answering the pick-benchmark's targets, in the field's prediction columns.

A model reads 60 s, its export's input, placed by the target's window
alone and never by its label:
- a model that answers for its whole input (the classifier), on task 1's
  30 s windows: the window's own samples, demeaned, in the middle of the
  input, and around them the window mirrored, as training's shift fills
  what it exposes (zeros around it lowered the demo classifier's ROC AUC
  from 0.99 to 0.95). Any context would be scored with the window: a noise
  window cut just before an event would be scored from the event.
  score_detection is its earthquake probability.
- every other reading (a picker on any window; an arrival model on tasks 2
  and 3's 10 s windows): the 60 s of the trace centred on the window (zeros
  beyond the trace's ends), as SeisBench centres its pickers' input.
Every score comes from inside [start_sample, end_sample): an arrival
model's answer is placed in the trace and clipped into the window; a
picker's per-sample probabilities are read inside the window only, as the
field scores pickers: score_detection the highest earthquake probability
(1 - noise), score_p_or_s the highest P over the highest S, and each
phase's pick its most probable sample.
Which model answers what comes from its task's declared outputs
(task_base.Output: a detection, arrivals, or per-sample phase
probabilities). A column a model does not answer
is left empty (NaN), as the field's collect_results.py expects.

Windows are read through tf.data, a batch of targets a call, in parallel
and ahead of the models (prefetch), as `predict` reads traces.
"""

from __future__ import annotations

import collections
import sys
import threading

import numpy as np
import pandas as pd
import tensorflow as tf

from techtonics.benchmark.data import Dataset
from techtonics.data import stead
from techtonics.prediction.predictor import Predictor

PREDICTION_COLUMNS = ["score_detection", "score_p_or_s", "p_sample_pred", "s_sample_pred"]
TASK_OF_COLUMN = {
    "score_detection": "task1",
    "score_p_or_s": "task23",
    "p_sample_pred": "task23",
    "s_sample_pred": "task23",
}


def per_sample(task) -> str | None:
    """The output of per-sample phase probabilities that `task` (a tasks.Task) declares, if any."""
    return next((name for name, o in task.outputs().items() if o.kind == "phase_probabilities"), None)


def answered(task, model_name: str = "model") -> dict[str, str]:
    """{the field's column: the prediction column it comes from} of a model of `task`; a picker answers
    every column from its per-sample probabilities (`per_sample`)."""
    if per_sample(task):
        return dict.fromkeys(PREDICTION_COLUMNS, per_sample(task))
    found = {}
    for name, output in task.outputs().items():
        if output.kind == "earthquake_probability":
            found["score_detection"] = f"{model_name}.{name}"
        elif output.kind == "arrival":
            found[f"{output.phase.lower()}_sample_pred"] = f"{model_name}.{name}"
    return found


def scored_tasks(task) -> list[str]:
    """The benchmark's files ("task1", "task23") that a model of `task` answers."""
    return sorted({TASK_OF_COLUMN[c] for c in answered(task)})


def reading(task, task_file: str) -> tuple[bool, bool]:
    """How a model of `task` reads a targets file: (the window alone, masked; per-sample probabilities)."""
    probabilities = bool(per_sample(task))
    return task_file == "task1" and not probabilities, probabilities


def _window_scores(probabilities: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, np.ndarray]:
    """The field's four columns from (n, samples, [P, S, noise]) probabilities, inside [low, high)."""
    t = np.arange(probabilities.shape[1])[np.newaxis, :]
    inside = (t >= low[:, np.newaxis]) & (t < high[:, np.newaxis])
    p, s, noise = (np.where(inside, probabilities[..., k], -np.inf) for k in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_or_s = p.max(axis=1) / s.max(axis=1)
    return {
        "score_detection": (1.0 - np.where(inside, probabilities[..., 2], np.inf)).max(axis=1),
        "score_p_or_s": p_or_s,
        "p_sample_pred": p.argmax(axis=1).astype(np.float64),
        "s_sample_pred": s.argmax(axis=1).astype(np.float64),
    }


def _mirrored(count: int, first: int, length: int) -> np.ndarray:
    """Indices into a stretch of `length` samples for `count` samples starting `first` before it: the
    stretch itself, and beyond its ends the stretch read backwards and forwards again, so they join."""
    position = np.mod(np.arange(count) - first, 2 * length)
    return np.where(position < length, position, 2 * length - 1 - position)


def _place(whole: np.ndarray, first: int, window: tuple[int, int] | None, out: np.ndarray) -> None:
    """out[:] = samples [first, first + len(out)) of the whole trace, zero beyond its ends; with a window,
    the window's samples, demeaned, in their place, and mirrored around them (nothing from outside it)."""
    if window is not None:  # as training's shift fills what it exposes: mirrored, so no step is a tell
        low, high = window
        segment = whole[low:high] - whole[low:high].mean(axis=0)
        out[:] = segment[_mirrored(len(out), low - first, high - low)]
        return
    low, high = max(first, 0), min(first + len(out), len(whole))
    out[:] = 0.0
    out[low - first : high - first] = whole[low:high]


def windows(
    dataset: Dataset, rows: pd.DataFrame, masked: bool, batch_size: int, skipped: collections.Counter
):
    """tf.data of (waveforms (n, 6000, 3), positions of their rows in `rows`), a batch of rows from one file
    a call; rows whose trace cannot be read are counted in skipped, by reason, and left out."""
    start, end = rows.start_sample.to_numpy(np.int64), rows.end_sample.to_numpy(np.int64)
    first = (start + end - stead.TRACE_SAMPLES) // 2  # the input centred on the window
    files, names = rows.file.to_numpy(), rows.trace_name.to_numpy()
    counting = threading.Lock()
    order = np.argsort(files, kind="stable")  # one file a batch; the rows keep their order within it
    blocks = [
        block
        for f in np.unique(files)
        for block in np.array_split(order[files[order] == f], -(-np.sum(files == f) // batch_size))
    ]

    def read(block: np.int64):
        positions = blocks[int(block)]
        waveforms = np.empty((len(positions), *stead.WAVEFORM_SHAPE), np.float32)
        good = np.ones(len(positions), bool)
        whole, name = None, None
        with dataset.open(int(files[positions[0]]), list(dict.fromkeys(names[positions]))) as reader:
            for k, i in enumerate(positions):
                try:
                    if names[i] != name:  # a trace's windows are neighbours: read it once for them
                        whole, name = dataset.read_whole(reader, names[i]), names[i]
                except stead.BadTraceError as e:
                    with counting:  # batches are read in parallel
                        if not skipped[e.reason]:  # the first of each reason named
                            print(
                                f"warning: {e}; skipping its windows and every such trace's", file=sys.stderr
                            )
                        skipped[e.reason] += 1
                    good[k], name = False, None
                    continue
                _place(whole, first[i], (start[i], end[i]) if masked else None, waveforms[k])
        return waveforms[good], positions[good].astype(np.int64)

    def as_batch(block):
        waveforms, positions = tf.numpy_function(read, [block], (tf.float32, tf.int64), stateful=False)
        waveforms.set_shape([None, *stead.WAVEFORM_SHAPE])
        positions.set_shape([None])
        return waveforms, positions

    # The autotuner off: its iterator's end waited 1-2 s for it here (a bench of 1,000 windows: 0.6 of
    # predict's rate with it, 0.9 without); AUTOTUNE then reads as many blocks at once as there are cores.
    no_autotune = tf.data.Options()
    no_autotune.autotune.enabled = False
    ds = tf.data.Dataset.range(len(blocks)).with_options(no_autotune)
    return ds.map(as_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2), first


def score(
    predictor: Predictor,
    dataset: Dataset,
    rows: pd.DataFrame,
    masked: bool,
    batch_size: int,
    skipped: collections.Counter,
) -> list[pd.DataFrame]:
    """Each of the predictor's models' answers to rows of one targets file, read alike (`reading`): the rows
    (those read) with PREDICTION_COLUMNS, one frame per model."""
    batches, first = windows(dataset, rows, masked, batch_size, skipped)
    values = {m.name: {c: np.full(len(rows), np.nan) for c in PREDICTION_COLUMNS} for m in predictor.models}
    read = np.zeros(len(rows), bool)
    start, end = rows.start_sample.to_numpy(np.int64), rows.end_sample.to_numpy(np.int64)
    probabilities = {m.name: per_sample(m.task) for m in predictor.models}
    for waveforms, positions in batches:
        positions = positions.numpy()
        read[positions] = True
        answers = predictor.predict(waveforms)  # under the predictor's strategy, every replica a slice
        window = (start[positions] - first[positions], end[positions] - first[positions])
        for m in predictor.models:
            if probabilities[m.name]:
                found = _window_scores(answers[f"{m.name}.{probabilities[m.name]}"], *window)
            else:
                found = {field: answers[column] for field, column in answered(m.task, m.name).items()}
            for field, value in found.items():
                value = value.astype(np.float64)
                if field.endswith(
                    "_sample_pred"
                ):  # a sample of the input, as one of the trace, in the window
                    value = np.clip(value + first[positions], start[positions], end[positions] - 1)
                values[m.name][field][positions] = value
    return [rows[read].assign(**{c: v[read] for c, v in values[m.name].items()}) for m in predictor.models]
