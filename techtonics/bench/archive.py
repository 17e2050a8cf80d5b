"""Station archives: station-days per hour, what reading in day chunks costs, and memory that follows a day.

A synthetic SDS archive of one station (XX.ARC01, 100 Hz, int32 Steim2 day
files: one synthetic day with earthquakes, repeated) is predicted by the
command's code (prediction/inputs.waveforms_source, predictor.predict)
with an untrained classifier, each run in a process of its own
(measurements.archive_prediction), timed, with its peak RSS:

- station-days per hour and windows/s over the middle span, against
  predicting the same number of windows held in memory (the input's share);
- the same span read in day chunks against one chunk holding it whole (the
  old way: every file in memory at once); goal: chunks cost at most 10%;
- peak RSS over the longest span against one day (goal: at most 1.1x), and
  its windows/s against one day read whole (goal: not lower).
"""

from __future__ import annotations

import os
import time

import numpy as np
import tensorflow as tf

from techtonics.bench import conversion, measurements
from techtonics.bench.report import Row
from techtonics.data import recordings, stead
from techtonics.prediction import predictor
from techtonics.synthetic import stream
from techtonics.testing import exports

START = "2024-01-01"
_EVENTS = [stream.Event(3_600.0 * h + 600.0, 3.0, 30.0) for h in range(0, 24, 3)]  # one every 3 hours
_WHOLE = 1e9  # seconds: a chunk that holds any span of this century (2001-2033) whole


def synthetic_archive(workdir: str, days: int) -> str:
    """An SDS root holding `days` day files per channel of one station, from START (written once)."""
    obspy = recordings.import_obspy()
    root = os.path.join(workdir, "archive-sds")
    day = None
    for d in range(days):
        t = obspy.UTCDateTime(START) + d * 86_400
        folder = os.path.join(root, str(t.year), "XX", "ARC01")
        paths = {
            c: os.path.join(folder, f"HH{c}.D", f"XX.ARC01..HH{c}.D.{t.year}.{t.julday:03d}") for c in "ENZ"
        }
        if all(os.path.exists(p) for p in paths.values()):
            continue
        day = np.rint(stream.waveforms(86_400.0, _EVENTS, seed=0)).astype(np.int32) if day is None else day
        for i, (c, path) in enumerate(paths.items()):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            header = {"network": "XX", "station": "ARC01", "channel": f"HH{c}", "starttime": t}
            trace = obspy.Trace(np.ascontiguousarray(day[:, i]), {**header, "sampling_rate": 100.0})
            trace.write(path + ".tmp", format="MSEED", encoding="STEIM2")
            os.replace(path + ".tmp", path)
    return root


def _predicted(root: str, model: str, days: int, stride_s: float, chunk_seconds: float, workdir: str) -> dict:
    """One run in a process of its own: its measurement (windows, seconds) with wall time and peak RSS."""
    obspy = recordings.import_obspy()
    end = str(obspy.UTCDateTime(START) + days * 86_400)
    arguments = {
        "sds_root": root,
        "start": START,
        "end": end,
        "model": model,
        "stride_s": stride_s,
        "chunk_seconds": chunk_seconds,
        "output_dir": os.path.join(workdir, f"archive-out-{days}-{chunk_seconds:g}"),
    }
    with measurements.result_file() as result:
        wall, rss, _ = conversion.run_measured(measurements.command("archive_prediction", arguments, result))
        return {**measurements.read(result), "wall": wall, "rss_mb": rss}


def _memory_rate(model: str, count: int) -> float:
    """Windows/s predicting batches held in memory (no reading), the same batch size as the runs."""
    loaded = predictor.Predictor([model], tf.distribute.get_strategy(), predictor.PredictConfig.batch_size)
    held = np.random.default_rng(0).normal(0, 100, (256, *stead.WAVEFORM_SHAPE)).astype(np.float32)
    loaded.predict(held)  # tracing
    batches = max(1, count // len(held))
    start = time.perf_counter()
    for _ in range(batches):
        loaded.predict(held)
    return batches * len(held) / (time.perf_counter() - start)


def run(workdir: str, quick: bool) -> list[Row]:
    """The archive rows: 1, 2 and 2 days at a 60 s stride when quick, else 1, 4 and 30 days at 10 s."""
    one, middle, longest = (1, 2, 2) if quick else (1, 4, 30)
    stride_s = 60.0 if quick else 10.0
    root = synthetic_archive(workdir, longest)
    model = os.path.join(workdir, "archive-model", "export")
    if not os.path.exists(os.path.join(model, "saved_model.pb")):
        exports.export_untrained(model, "classification")
    runs = {
        ("chunked", one): _predicted(root, model, one, stride_s, 86_400.0, workdir),
        ("whole", one): _predicted(root, model, one, stride_s, _WHOLE, workdir),
        ("chunked", middle): _predicted(root, model, middle, stride_s, 86_400.0, workdir),
        ("whole", middle): _predicted(root, model, middle, stride_s, _WHOLE, workdir),
        ("chunked", longest): _predicted(root, model, longest, stride_s, 86_400.0, workdir),
    }
    chunked, whole = runs[("chunked", middle)], runs[("whole", middle)]
    rate = chunked["windows"] / chunked["seconds"]
    memory = _memory_rate(model, chunked["windows"])
    longest_run, one_whole = runs[("chunked", longest)], runs[("whole", one)]
    what = f"SDS archive, one station, {stride_s:g} s stride"
    table = ", ".join(f"{days} days {how}: {r['rss_mb']:,.0f} MB" for (how, days), r in runs.items())
    rows = [
        Row(
            "archive.station_days",
            f"predict, {what}: {middle} station-days in day chunks",
            middle / chunked["seconds"] * 3600.0,
            "station-days/h",
        ),
        Row(
            "archive.fed",
            f"predict, {what}: {chunked['windows']:,} windows from day files vs from memory",
            rate,
            "windows/s",
            "from memory",
            rate / memory,
        ),
        Row(
            "archive.chunked",
            f"predict, {what}: {middle} days in day chunks vs one chunk holding them whole",
            rate,
            "windows/s",
            "read whole",
            whole["seconds"] / chunked["seconds"],
            ">= 0.9",
        ),
        Row(
            "archive.memory",
            f"predict, {what}: peak RSS over {longest} station-days vs 1 ({table})",
            longest_run["rss_mb"],
            "MB",
            "1 station-day",
            longest_run["rss_mb"] / runs[("chunked", one)]["rss_mb"],
            "<= 1.1",
        ),
        Row(
            "archive.longest",
            f"predict, {what}: {longest} station-days in day chunks vs 1 day read whole",
            longest_run["windows"] / longest_run["seconds"],
            "windows/s",
            "1 day read whole",
            (longest_run["windows"] / longest_run["seconds"]) / (one_whole["windows"] / one_whole["seconds"]),
            ">= 1",
        ),
    ]
    return rows
