"""What prediction writes: predictions.csv, and for continuous input each station's detections and figure.

`PredictionWriter` streams rows into predictions.csv under a temporary name
and renames it when complete. `Stations` gathers a continuous recording's
window probabilities station by station, turns them into detections
(continuous.detections) when a station ends, draws the first stations, and
writes detections.csv, and the same detections as QuakeML and picks
(catalog.py).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import errno
import io

import numpy as np

from techtonics.core import errors, fileio
from techtonics.core.errors import UserError
from techtonics.prediction import catalog, continuous, figures, inputs

# What a run on continuous input may write beside predictions.csv: a run that writes less leaves none of
# an earlier run's (predictor.predict removes them first).
DETECTION_FILES = ("detections.csv", "detections.xml", "picks.csv")


class PredictionWriter:
    """predictions.csv, one row per trace or window, streamed to a temporary file and renamed on close."""

    def __init__(self, path: str, identity: list[str], columns: list[str], batch_size: int):
        """identity: the columns naming a row; columns: the models' (Predictor.columns); batch_size: rows
        the input reads at a time."""
        self.path, self.columns, self.rows, self.batch_size = path, [*identity, *columns], 0, batch_size
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


class Stations:
    """Continuous input: each station's probabilities, made into detections and a figure when it ends."""

    def __init__(
        self,
        output_dir: str,
        detector: str | None,
        estimates: list[str],
        threshold: float,
        max_figures: int,
        catalog_entries: dict[str, str],
        chosen_by: dict[str, str],
    ):
        """detector: the probability column that detects (None: no model detects, so nothing is written);
        estimates: the regressors' columns each detection reports; threshold: the detecting probability;
        max_figures: stations drawn; catalog_entries: {a detection's field: "magnitude", "P" or "S"} for
        the estimates that are magnitudes or arrivals in QuakeML (Predictor.catalog_entries); chosen_by:
        the arrivals reported from their most confident window, by the probability's column."""
        self.output_dir, self.detector, self.estimates = output_dir, detector, estimates
        self.threshold, self.max_figures, self.catalog_entries = threshold, max_figures, catalog_entries
        self.chosen_by = chosen_by
        self.current, self.rows, self.events, self.figures = None, collections.defaultdict(list), [], []

    def add(
        self,
        stations: np.ndarray,
        starts: np.ndarray,
        filled_s: np.ndarray,
        outputs: dict[str, np.ndarray],
        plots: dict,
    ) -> None:
        """A batch of windows: their stations, start times (POSIX s), seconds of gaps filled and every
        column; plots: station -> its Z trace for the figure (continuous.windows fills it)."""
        for station in dict.fromkeys(stations):  # in order of appearance
            if station != self.current:
                self._finish_station(plots)
                self.current = station
            keep = stations == station
            self.rows["start"].append(starts[keep])
            self.rows["filled_s"].append(filled_s[keep])
            for column in [self.detector, *self.estimates] if self.detector else []:
                self.rows[column].append(outputs[column][keep])

    def _finish_station(self, plots: dict) -> None:
        if self.current is None or not self.detector:
            return
        columns = {k: np.concatenate(v) for k, v in self.rows.items()}
        self.rows.clear()
        starts, probability, filled_s = (
            columns.pop("start"),
            columns.pop(self.detector),
            columns.pop("filled_s"),
        )
        events = continuous.detections(starts, probability, columns, self.threshold, filled_s, self.chosen_by)
        self.events += [{"station": self.current, **event} for event in events]
        plot = plots.pop(self.current, None)  # held only until its station ends
        if plot is not None and len(self.figures) < self.max_figures:
            out_dir = fileio.join(self.output_dir, "figures")
            fileio.makedirs(out_dir)
            self.figures.append(
                figures.station_detections(
                    self.current, plot, starts, probability, events, self.threshold, out_dir
                )
            )

    def finish(self, plots: dict) -> dict:
        """Ends the last station and writes detections.csv, detections.xml and picks.csv (when a model
        estimates arrivals); returns what the run's summary adds."""
        self._finish_station(plots)
        if not self.detector:
            return {}
        path = fileio.join(self.output_dir, "detections.csv")
        fileio.write_atomic(path, self._detections_csv())
        written = catalog.write(
            self.output_dir, self.events, self.catalog_entries, self.detector, self.threshold
        )
        return {
            "detections": len(self.events),
            "threshold": self.threshold,
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
