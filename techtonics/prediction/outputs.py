"""What prediction writes: predictions.csv, and for continuous input each station's detections and figure.

`PredictionWriter` streams rows into predictions.csv under a temporary name
and renames it when complete. For continuous input, `write_continuous`
makes every output from the finished chunk files (chunk_store.py), in
order: predictions.csv, and through `Stations`, which gathers each
station's window probabilities, its detections (continuous.detections),
the first stations' figures, detections.csv, and the same detections as
QuakeML and picks (catalog.py).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import errno
import io

import numpy as np

from techtonics.core import errors, fileio
from techtonics.core.errors import UserError
from techtonics.prediction import catalog, chunk_store, continuous, figures, inputs

# What a run on continuous input may write beside predictions.csv: a run that writes less leaves none of
# an earlier run's (predictor.predict removes them first).
DETECTION_FILES = ("detections.csv", "detections.xml", "picks.csv")


class PredictionWriter:
    """predictions.csv, one row per trace or window, streamed to a temporary file and renamed on close."""

    def __init__(self, path: str, identity: list[str], columns: list[str]):
        """identity: the columns naming a row; columns: the models' (Predictor.columns)."""
        self.path, self.columns, self.rows = path, [*identity, *columns], 0
        self._tmp = fileio.temporary_path(path)
        self._file = fileio.open_file(self._tmp, "w")
        self._write([self.columns])

    def _write(self, rows) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        self._file.write(text.getvalue())

    def write(self, identity: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        """One row per element of the batch: identity columns, then every model's output."""
        values = {**identity, **{k: np.char.mod("%.6g", v) for k, v in outputs.items()}}
        with self._named_full_disk():
            self._write(zip(*(values[c] for c in self.columns)))
        self.rows += len(next(iter(outputs.values())))

    def close(self) -> None:
        """Renames the complete file into place."""
        with self._named_full_disk():  # closing flushes what is buffered: a small file meets a full disk here
            self._file.close()
        fileio.rename(self._tmp, self.path)

    @contextlib.contextmanager
    def _named_full_disk(self):
        """A full disk as one line naming predictions.csv (the temporary's name means nothing to users)."""
        try:
            yield
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            raise UserError(f"{self.path}: {errors.NO_SPACE}") from None

    def discard(self) -> None:
        """Removes the temporary file of an interrupted run."""
        with contextlib.suppress(OSError):  # on a full disk, closing fails to flush what is buffered
            self._file.close()
        fileio.remove(self._tmp)


@dataclasses.dataclass(frozen=True)
class Detecting:
    """What turns a continuous prediction's windows into detections; summary.json records it for --merge."""

    detector: str | None  # the probability column that detects (None: no model detects, nothing is written)
    estimates: list[str]  # the regressors' columns each detection reports
    threshold: float  # the detecting probability
    max_figures: int  # stations drawn
    catalog_entries: dict[
        str, str
    ]  # {a detection's field: "magnitude", "P" or "S"} (Predictor.catalog_entries)
    chosen_by: dict[str, str]  # the arrivals reported from their most confident window, by its probability


def write_continuous(
    paths: list[str], output_dir: str, identity: list[str], columns: list[str], detecting: Detecting
) -> dict:
    """predictions.csv, detections and figures from finished chunk files (chunk_store), in order.

    identity: predictions.csv's first columns; columns: the models'. Returns
    what the summary records of them, with the chunks' skip counts summed.
    """
    writer = PredictionWriter(fileio.join(output_dir, "predictions.csv"), identity, columns)
    stations, skipped = Stations(output_dir, detecting), collections.Counter()
    try:
        for path in paths:
            station, values, chunk_skipped, plot = chunk_store.read(path)
            skipped.update(chunk_skipped)
            if len(values["window_start"]):
                text = {
                    "station": np.full(len(values["window_start"]), station),
                    "window_start": inputs.iso_time(values["window_start"]),
                    "gap_filled_s": values["gap_filled_s"],
                }
                writer.write(text, {c: values[c] for c in columns})
            stations.add(station, values, plot)
        writer.close()
    except BaseException:
        writer.discard()
        raise
    return {
        "predictions": writer.rows,
        "predictions_csv": writer.path,
        "skipped": skipped,
        **stations.finish(),
    }


class Stations:
    """Continuous input: each station's probabilities, made into detections and a figure when it ends."""

    def __init__(self, output_dir: str, detecting: Detecting):
        self.output_dir, self.detecting = output_dir, detecting
        self.current, self.rows, self.plot, self.events, self.figures = (
            None,
            collections.defaultdict(list),
            [],
            [],
            [],
        )

    def add(self, station: str, values: dict[str, np.ndarray], plot: tuple) -> None:
        """One chunk of a station: its windows' values (window_start, gap_filled_s and every column) and its
        share of the station's figure (continuous.ChunkRead.plot)."""
        if station != self.current:
            self._finish_station()
            self.current = station
        detector = self.detecting.detector
        for column in (
            ["window_start", "gap_filled_s", detector, *self.detecting.estimates] if detector else []
        ):
            self.rows[column].append(values[column])
        self.plot.append(plot)

    def _finish_station(self) -> None:
        if self.current is None or not self.detecting.detector:
            return
        d = self.detecting
        columns = {k: np.concatenate(v) for k, v in self.rows.items()}
        self.rows.clear()
        starts, probability, filled_s = (
            columns.pop("window_start"),
            columns.pop(d.detector),
            columns.pop("gap_filled_s"),
        )
        events = continuous.detections(starts, probability, columns, d.threshold, filled_s, d.chosen_by)
        self.events += [{"station": self.current, **event} for event in events]
        plot, self.plot = _envelope(self.plot), []
        if len(self.figures) < d.max_figures:
            out_dir = fileio.join(self.output_dir, "figures")
            fileio.makedirs(out_dir)
            self.figures.append(
                figures.station_detections(
                    self.current, plot, starts, probability, events, d.threshold, out_dir
                )
            )

    def finish(self) -> dict:
        """Ends the last station and writes detections.csv, detections.xml and picks.csv (when a model
        estimates arrivals); returns what the run's summary adds."""
        self._finish_station()
        d = self.detecting
        if not d.detector:
            return {}
        path = fileio.join(self.output_dir, "detections.csv")
        fileio.write_atomic(path, self._detections_csv())
        scores = {continuous.estimate_field(c): continuous.estimate_field(p) for c, p in d.chosen_by.items()}
        written = catalog.write(
            self.output_dir, self.events, d.catalog_entries, d.detector, d.threshold, scores
        )
        return {
            "detections": len(self.events),
            "threshold": d.threshold,
            "detections_csv": path,
            **written,
            "figures": self.figures,
        }

    def _detections_csv(self) -> str:
        """One row per event, times in ISO 8601 UTC."""
        names = [
            "station",
            "start",
            "end",
            "peak_probability",
            "peak_window_start",
            "windows",
            "filled_windows",
        ]
        names += sorted({k for event in self.events for k in event} - set(names))
        times = {k for k in names if continuous.is_time(k)}
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        for event in self.events:
            writer.writerow(
                [inputs.iso_time([event[k]])[0] if k in times else event.get(k, "") for k in names]
            )
        return text.getvalue()


def _envelope(shares: list[tuple]) -> tuple:
    """A station's figure from its chunks' shares: (first window's start, (points, 2) Z min/max, seconds
    per point); a point that two chunks share takes both."""
    points = np.concatenate([share[0] for share in shares])
    size = int(points.max()) + 1 if len(points) else 0
    low, high = np.full(size, np.nan), np.full(size, np.nan)
    for share in shares:
        np.fmin.at(low, share[0], share[1])
        np.fmax.at(high, share[0], share[2])
    start, step_s = shares[0][3:]
    return float(start), np.stack([low, high], axis=1), float(step_s)
