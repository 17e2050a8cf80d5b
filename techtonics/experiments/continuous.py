"""How trained models do where detectors are used: a continuous recording with earthquakes at random times.

`score` writes a synthetic recording (synthetic/stream.py: one station's
noise with earthquakes of M 2-4 at 10-80 km), predicts it with a 1 s stride
to see every placement of P in a window, and with the default stride to
detect as users do, then compares with the truth:

- mean P(earthquake) of the windows grouped by where P sits in them, and of
  the windows far from any earthquake (noise);
- detections: the share of events found, and detections that hold no P;
- each found event's magnitude as the detection reports it, against the
  error of reporting one magnitude for every event: the training split's
  mean, or (harder to beat) the mean of these very events;
- with a P-arrival regressor: each window's P error grouped by where P
  sits, and each found event's P pick (the detection's median) against its
  true P.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from techtonics.core import fileio
from techtonics.data import stead
from techtonics.model import export
from techtonics.prediction import inputs, predictor
from techtonics.synthetic import stream

OFFSET_BINS_S = (0, 4, 10, 20, 35, 50, 60)  # where P sits in a window, as issue 20 measured
_QUIET_S = (120.0, 60.0)  # a noise window has no P from this long before its start to its end
_WINDOW_S = 60.0


@dataclasses.dataclass(frozen=True)
class Recording:
    """The synthetic recording: its length and its earthquakes."""

    hours: float = 2.6
    events: int = 30
    seed: int = 0

    def draw(self) -> list[stream.Event]:
        """Events at random times at least 3 minutes apart, M 2-4 at 10-80 km."""
        rng = np.random.default_rng(self.seed)
        slots = np.arange(120.0, self.hours * 3600 - 180.0, 180.0)
        times = np.sort(rng.choice(slots, self.events, replace=False) + rng.uniform(0, 60, self.events))
        return [
            stream.Event(float(t), float(rng.uniform(2.0, 4.0)), float(rng.uniform(10.0, 80.0)))
            for t in times
        ]


def _predict(models: list[str], recording_path: str, output_dir: str, stride_s: float) -> None:
    fileio.rmtree(output_dir)  # an earlier score's, of other models: prediction refuses to mix settings
    config = predictor.PredictConfig(tuple(models), output_dir, stride=stride_s, progress=False)
    predictor.predict(config, inputs.waveforms_source([recording_path], stride_s, False))


def _seconds(times: pd.Series) -> np.ndarray:
    return (pd.to_datetime(times).astype("int64") / 1e9 - pd.Timestamp(stream.START).timestamp()).to_numpy()


def score(
    output_dir: str,
    classifier: str,
    magnitude: str | None,
    recording: Recording = Recording(),
    p_arrival: str | None = None,
) -> dict:
    """The figures above for a classifier's and (optionally) a magnitude and a P-arrival regressor's
    exports."""
    events = recording.draw()
    path = stream.write_stream(
        os.path.join(output_dir, "recording.mseed"), recording.hours * 3600, events, seed=recording.seed
    )
    models = [classifier, *(m for m in (magnitude, p_arrival) if m)]
    names = predictor.model_names(models)
    p_name = names[models.index(p_arrival)] if p_arrival else None
    p_times = np.array([e.p_time_s for e in events])

    _predict(models, path, os.path.join(output_dir, "stride-1s"), 1.0)
    windows = pd.read_csv(os.path.join(output_dir, "stride-1s", "predictions.csv"))
    starts = _seconds(windows.window_start)
    probability = windows[f"{names[0]}.p_earthquake"].to_numpy()
    offsets = p_times[np.newaxis, :] - starts[:, np.newaxis]  # every P's place in every window
    inside = (offsets >= 0) & (offsets < _WINDOW_S)
    offset = np.where(inside.any(axis=1), np.where(inside, offsets, np.inf).min(axis=1), np.nan)
    quiet = ~((offsets >= -_QUIET_S[1]) & (offsets < _QUIET_S[0])).any(axis=1)
    bins = list(zip(OFFSET_BINS_S[:-1], OFFSET_BINS_S[1:]))
    by_offset = {f"{lo}-{hi} s": float(probability[(offset >= lo) & (offset < hi)].mean()) for lo, hi in bins}
    if p_arrival:
        p_error = windows[f"{p_name}.p_arrival_sample"].to_numpy() / stead.SAMPLING_RATE_HZ - offset
        p_error_by_offset = {
            f"{lo}-{hi} s": float(np.abs(p_error[(offset >= lo) & (offset < hi)]).mean()) for lo, hi in bins
        }

    _predict(models, path, os.path.join(output_dir, "stride-10s"), 10.0)
    detections = pd.read_csv(os.path.join(output_dir, "stride-10s", "detections.csv"))
    begins, ends = _seconds(detections.start), _seconds(detections.end)
    holds = (p_times[np.newaxis, :] >= begins[:, np.newaxis]) & (p_times[np.newaxis, :] < ends[:, np.newaxis])
    result = {
        "events": len(events),
        "mean_p_earthquake_by_p_offset": by_offset,
        "mean_p_earthquake_noise_windows": float(probability[quiet].mean()),
        "recall": float(holds.any(axis=0).mean()),
        "false_detections": int((~holds.any(axis=1)).sum()),
        "detections": len(detections),
    }
    if magnitude:
        found = holds.any(axis=0)
        estimate = detections[f"{names[1]}.source_magnitude"].to_numpy()[holds.argmax(axis=0)[found]]
        truth = np.array([e.magnitude for e in events])[found]
        _, info = export.load_exported(magnitude)  # info["mean"]: the training split's mean magnitude
        result["magnitude_mae"] = float(np.abs(estimate - truth).mean())
        result["magnitude_mae_of_training_mean"] = float(np.abs(info["mean"] - truth).mean())
        # A harder baseline: these events' own mean magnitude, which no model can know.
        result["magnitude_mae_of_events_mean"] = float(np.abs(truth.mean() - truth).mean())
    if p_arrival:
        found = holds.any(axis=0)
        picks = _seconds(detections[f"{p_name}.p_arrival_time"])[holds.argmax(axis=0)[found]]
        pick_error = np.abs(picks - p_times[found])
        result["p_arrival_mae_s_by_p_offset"] = p_error_by_offset
        result["p_pick_mae_s"] = float(pick_error.mean())
        result["p_pick_median_abs_error_s"] = float(np.median(pick_error))
    return result
