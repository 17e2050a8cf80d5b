"""Prediction speed: the predict command's pipeline against a plain loop and against batches held in memory.

Two exported models (a classifier and a magnitude regressor, untrained:
speed does not depend on the weights) predict in one pass over generated
STEAD files and over a synthetic continuous recording. Each is timed three
ways: fed by the prediction pipeline (prediction/inputs.py, what the command
runs), fed one batch from memory (no input cost), and a plain Python loop
that reads one trace or window and calls the SavedModels on it, as users
write first. The pick-benchmark's scoring (benchmark/scoring.py) is timed
against predict on the same classifier: its task-1 windows of the same
traces, read and placed through its own tf.data pipeline.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import tensorflow as tf

from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.benchmark import data, scoring, targets
from techtonics.data import recordings, stead
from techtonics.model import export
from techtonics.prediction import inputs, predictor
from techtonics.synthetic import stream
from techtonics.testing import exports

BATCH = 256
_LOOP_PREDICTIONS = 200  # the plain loop is slow: timed on this many


def _exports(workdir: str) -> list[str]:
    paths = []
    for task in ("classification", "regression"):
        path = os.path.join(workdir, "prediction-models", task, "export")
        if not os.path.exists(os.path.join(path, export.EXPORT_INFO)):
            exports.export_untrained(path, task)
        paths.append(path)
    return paths


def _rates(model: predictor.Predictor, dataset: tf.data.Dataset) -> tuple[float, float, int]:
    """(fed by the pipeline, fed from memory) predictions/s after a first untimed batch, and the count."""
    batches = iter(dataset)
    first, _ = next(batches)
    model.predict(first)  # tracing
    start, count = time.perf_counter(), 0
    for waveform, _ in batches:
        count += len(model.predict(waveform)[model.columns[0]])
    fed = count / (time.perf_counter() - start)
    held = tf.constant(first)
    start = time.perf_counter()
    for _ in range(max(1, count // len(held))):
        model.predict(held)
    memory = max(1, count // len(held)) * len(held) / (time.perf_counter() - start)
    return fed, memory, count


def _loop_rate(paths: list[str], waveforms) -> float:
    """Predictions/s of a plain loop: one waveform at a time through every SavedModel."""
    loaded = [tf.saved_model.load(p) for p in paths]
    start, count = time.perf_counter(), 0
    for waveform in waveforms:
        for model in loaded:
            model.serve(tf.constant(waveform[np.newaxis]))
        count += 1
    return count / (time.perf_counter() - start)


def _stead_traces(pair: stead.SteadPair):
    names = stead.read_metadata(pair.csv, columns=("trace_category",)).trace_name[:_LOOP_PREDICTIONS]
    with stead.WaveformFile(pair.hdf5) as f:
        for name in names:
            yield f.read(name)


def _stream_windows(path: str):
    recording = recordings.import_obspy().read(path)  # ObsPy is an extra: imported only when measured
    data = np.stack([recording.select(channel=f"HH{c}")[0].data for c in stead.CHANNELS], axis=1)
    for i in range(min(_LOOP_PREDICTIONS, (len(data) - stead.TRACE_SAMPLES) // 1000 + 1)):  # a 10 s stride
        yield data[i * 1000 : i * 1000 + stead.TRACE_SAMPLES]


def _scoring_rows(classifier: str, pair: stead.SteadPair) -> list[Row]:
    """The pick-benchmark's task-1 windows/s against predict's traces/s, one classifier, the same traces."""
    model = predictor.Predictor([classifier], tf.distribute.get_strategy(), per_sample=True)
    predicted, _, _ = _rates(model, inputs.stead_source([pair]).make(BATCH, model.channels))
    dataset = data.from_stead((pair,), None, splits_needed=False)
    dataset.traces["trace_split"] = "test"  # every trace scored
    windows = targets.check(targets.generate(dataset.traces)["task1"], dataset.traces, "bench", Counter())
    scoring.score(model, dataset, windows.head(BATCH), True, BATCH, Counter())  # tracing
    start = time.perf_counter()
    scoring.score(model, dataset, windows, True, BATCH, Counter())
    scored = len(windows) / (time.perf_counter() - start)
    return [
        Row(
            "prediction.pick_benchmark",
            f"pick_benchmark, {len(windows):,} task-1 windows of the same traces, the classifier",
            scored,
            "windows/s",
            "predict, the same classifier",
            scored / predicted,
            ">= 0.8",
        )
    ]


def run(workdir: str, traces: int, stream_hours: float) -> list[Row]:
    """Prediction figures over `traces` generated STEAD traces and a `stream_hours` continuous recording."""
    paths = _exports(workdir)
    model = predictor.Predictor(paths, tf.distribute.get_strategy())
    pair = stead.find_pairs(datasets.generated_stead(workdir, traces))[0]
    recording = os.path.join(workdir, f"stream-{stream_hours:g}h", "stream.mseed")
    if not os.path.exists(recording):
        events = [stream.Event(600.0 + 900.0 * k) for k in range(int(stream_hours * 4))]
        stream.write_stream(recording, stream_hours * 3600.0, events)
    sources = {
        "stead": (inputs.stead_source([pair]), _stead_traces(pair), f"{traces:,} STEAD traces"),
        "continuous": (
            inputs.waveforms_source([recording], 10.0, False),
            _stream_windows(recording),
            f"{stream_hours:g} h continuous, 10 s stride",
        ),
    }
    rows = []
    for kind, (source, one_at_a_time, what) in sources.items():
        fed, memory, count = _rates(model, source.make(BATCH, model.channels))
        loop = _loop_rate(paths, one_at_a_time)
        rows += [
            Row(
                f"prediction.{kind}.loop",
                f"predict, {what}: plain loop, one at a time, 2 models",
                loop,
                "predictions/s",
            ),
            Row(
                f"prediction.{kind}.memory",
                f"predict, {what}: from memory, batch {BATCH}",
                memory,
                "predictions/s",
            ),
            Row(
                f"prediction.{kind}.pipeline",
                f"predict, {what}: the pipeline, {count:,} predictions",
                fed,
                "predictions/s",
                "plain loop",
                fed / loop,
                ">= 20",
            ),
            Row(
                f"prediction.{kind}.fed",
                f"predict, {what}: pipeline vs from memory",
                fed / memory,
                "x",
                "from memory",
                fed / memory,
                ">= 0.9",
            ),
        ]
    return rows + _scoring_rows(paths[0], pair)
