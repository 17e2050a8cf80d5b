"""Exported models on waveforms: several models, one pass over the data, under any tf.distribute strategy.

`Predictor` loads export directories (models.export_model; only the
SavedModels are needed, not the training directories) under a strategy's
scope and answers every model from one batch of raw (n, 6000, 3) E/N/Z
waveforms. A batch is split into one slice per replica on the host, so
every GPU of a machine predicts and a short last batch needs no padding.

Each model's outputs are columns named after the model (its directory,
`models/classification/export` -> `classification`): a classifier gives
`<name>.p_noise` and `<name>.p_earthquake`, a regressor `<name>.<target>` in
the target's own units. `PredictionWriter` streams rows into
predictions.csv under a temporary name and renames it when complete.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import time

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics import continuous, distribute, figures, fileio, models, options, predict_inputs, stead
from techtonics.errors import UserError
from techtonics.options import option


def model_name(path: str) -> str:
    """`classification` for models/classification/export (or models/classification/export/)."""
    parts = [p for p in path.rstrip("/").split("/") if p]
    return parts[-2] if len(parts) > 1 and parts[-1] == "export" else parts[-1]


class Predictor:
    """Every exported model of `paths` on the same batches."""

    def __init__(self, paths: list[str], strategy: tf.distribute.Strategy):
        if not paths:
            raise UserError("no model: give --model=EXPORT_DIR (a model directory's export/)")
        self.strategy = strategy
        self.models = []  # (name, loaded, info)
        names = collections.Counter()
        with strategy.scope():
            for path in paths:
                loaded, info = models.load_exported(path)
                name = model_name(path)
                names[name] += 1
                self.models.append((name if names[name] == 1 else f"{name}_{names[name]}", loaded, info))
        self.columns = []
        for name, _, info in self.models:
            if info["task"] == "classification":
                self.columns += [f"{name}.p_{c}" for c in stead.CLASS_NAMES]
            else:
                self.columns.append(f"{name}.{info['target']}")
        self.channels = "".join(
            c for c in stead.CHANNELS if any(c in info["image_channels"] for _, _, info in self.models)
        )
        self.detector = next(
            (f"{n}.p_earthquake" for n, _, i in self.models if i["task"] == "classification"), None
        )
        self._step = tf.function(self._outputs)

    def _outputs(self, waveform: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = {}
        for name, loaded, info in self.models:
            result = loaded.serve(waveform)
            if info["task"] == "classification":
                for i, class_name in enumerate(stead.CLASS_NAMES):
                    outputs[f"{name}.p_{class_name}"] = result["probabilities"][:, i]
            else:
                outputs[f"{name}.{info['target']}"] = result[info["target"]]
        return outputs

    def predict(self, waveform: np.ndarray | tf.Tensor) -> dict[str, np.ndarray]:
        """Every column for a batch of (n, 6000, 3) waveforms, in batch order."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            return {k: v.numpy() for k, v in self._step(tf.convert_to_tensor(waveform, tf.float32)).items()}
        parts = np.array_split(np.asarray(waveform, np.float32), replicas)
        values = self.strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant(parts[context.replica_id_in_sync_group])
        )
        per_replica = self.strategy.run(self._step, args=(values,))
        return {
            k: np.concatenate([t.numpy() for t in self.strategy.experimental_local_results(v)])
            for k, v in per_replica.items()
        }


class PredictionWriter:
    """predictions.csv, one row per trace or window, streamed to a temporary file and renamed on close."""

    def __init__(self, path: str, identity: list[str], columns: list[str]):
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
        self._write(zip(*(values[c] for c in self.columns)))
        self.rows += len(next(iter(outputs.values())))

    def close(self) -> None:
        """Renames the complete file into place."""
        self._file.close()
        fileio.rename(self._tmp, self.path)

    def discard(self) -> None:
        """Removes the temporary file of an interrupted run."""
        self._file.close()
        fileio.remove(self._tmp)


# One machine's devices: prediction needs no all-reduce, and the workers of a cluster job would each
# write the same outputs. Split the input across machines instead.
STRATEGIES = ("auto", "default", "mirrored")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """auto: MirroredStrategy over every GPU of this machine when it has several, else the default."""
    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    return distribute.make_strategy(name)


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """One prediction job: the exported models, the output directory and how to run."""

    models: tuple[str, ...]
    output: str
    batch_size: int = option(256, "Traces or windows per batch, split over all replicas.", minimum=1)
    strategy: str = option(
        "auto", "tf.distribute strategy (auto: every GPU of this machine).", choices=STRATEGIES
    )
    stride: float = option(10.0, "Seconds between window starts (--waveforms).")
    fill_gaps: bool = option(
        False, "Fill a window's gaps with each channel's median instead of skipping it (--waveforms)."
    )
    threshold: float = option(0.5, "Earthquake probability that makes a window a detection (--waveforms).")
    max_figures: int = option(10, "Stations drawn with their detections (--waveforms).", minimum=0)
    progress: bool = option(True, "Show a progress bar on long runs.")

    def __post_init__(self):
        options.check(self)
        if self.stride <= 0:
            raise UserError(f"--stride={self.stride}: must be positive")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"--threshold={self.threshold}: must be in (0, 1]")


class _Stations:
    """Continuous input: each station's probabilities, made into detections and a figure when it ends."""

    def __init__(self, config: PredictConfig, predictor: Predictor, plots: dict):
        self.config, self.plots, self.detector = config, plots, predictor.detector
        self.estimates = [c for c in predictor.columns if not c.split(".", 1)[1].startswith("p_")]
        self.current, self.rows, self.events, self.figures = None, collections.defaultdict(list), [], []

    def add(self, stations: np.ndarray, starts: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        for station in dict.fromkeys(stations):  # in order of appearance
            if station != self.current:
                self.finish_station()
                self.current = station
            keep = stations == station
            self.rows["start"].append(starts[keep])
            for column in [self.detector, *self.estimates] if self.detector else []:
                self.rows[column].append(outputs[column][keep])

    def finish_station(self) -> None:
        if self.current is None or not self.detector:
            return
        columns = {k: np.concatenate(v) for k, v in self.rows.items()}
        self.rows.clear()
        starts, probability = columns.pop("start"), columns.pop(self.detector)
        events = continuous.detections(starts, probability, columns, self.config.threshold)
        self.events += [{"station": self.current, **event} for event in events]
        plot = self.plots.pop(self.current, None)  # held only until its station ends
        if plot is not None and len(self.figures) < self.config.max_figures:
            out_dir = fileio.join(self.config.output, "figures")
            fileio.makedirs(out_dir)
            self.figures.append(
                figures.station_detections(
                    self.current, plot, starts, probability, events, self.config.threshold, out_dir
                )
            )

    def write(self, path: str) -> None:
        """detections.csv: one row per event, times in ISO 8601 UTC."""
        names = ["station", "start", "end", "peak_probability", "peak_window_start", "windows"]
        names += sorted({k for event in self.events for k in event} - set(names))
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        for event in self.events:
            row = [event.get(k, "") for k in names]
            writer.writerow(
                [
                    predict_inputs.iso_time([v])[0]
                    if k in ("start", "end", "peak_window_start") or k.endswith("_time")
                    else v
                    for k, v in zip(names, row)
                ]
            )
        fileio.write_atomic(path, text.getvalue())


def _check_writable(output: str) -> None:
    try:
        fileio.check_writable(output)
    except (OSError, tf.errors.OpError) as e:
        raise UserError(f"{output}: cannot write the output directory ({e})") from None


def predict(
    config: PredictConfig, source: predict_inputs.Source, strategy: tf.distribute.Strategy | None = None
) -> dict:
    """Every model on every trace or window of source; writes predictions.csv (and detections.csv, figures).

    strategy: in place of config.strategy's (tests pass one over logical
    devices). Returns the summary, which is also printed as one line.
    """
    _check_writable(config.output)
    predictor = Predictor(list(config.models), strategy or make_strategy(config.strategy))
    dataset = source.make(config.batch_size, predictor.channels)
    writer = PredictionWriter(
        fileio.join(config.output, "predictions.csv"), source.identity, predictor.columns
    )
    stations = _Stations(config, predictor, source.plots) if source.kind == "waveforms" else None
    bar = tf_keras.utils.Progbar(source.total, unit_name="prediction") if config.progress else None
    started = time.perf_counter()
    try:
        for waveform, identity in dataset:
            outputs = predictor.predict(waveform)
            values = {k: v.numpy() for k, v in identity.items()}
            text = {k: v.astype(str) if v.dtype == object else v for k, v in values.items()}
            if stations:
                text["window_start"] = predict_inputs.iso_time(values["window_start"])
                stations.add(text["station"], values["window_start"], outputs)
            writer.write(text, outputs)
            if bar:
                bar.add(len(waveform))
        if not writer.rows:
            raise UserError(f"nothing to predict: every input was skipped ({_reasons(source.skipped)})")
        writer.close()
    except BaseException:
        writer.discard()
        raise
    seconds = time.perf_counter() - started
    summary = {
        "predictions": writer.rows,
        "models": [name for name, _, _ in predictor.models],
        "seconds": seconds,
        "predictions_per_second": writer.rows / seconds,
        "skipped": dict(source.skipped),
        "predictions_csv": writer.path,
    }
    if stations:
        stations.finish_station()
        if predictor.detector:
            stations.write(fileio.join(config.output, "detections.csv"))
            summary.update(
                detections=len(stations.events), detections_csv=fileio.join(config.output, "detections.csv")
            )
            summary["figures"] = stations.figures
    fileio.write_atomic(fileio.join(config.output, "summary.json"), json.dumps(summary, indent=2) + "\n")
    unit = "windows" if stations else "traces"
    detected = f", {summary['detections']} detections" if "detections" in summary else ""
    print(
        f"predicted {writer.rows:,} {unit} with {len(predictor.models)} models in {seconds:.1f} s "
        f"({summary['predictions_per_second']:,.0f}/s){detected}; skipped: {_reasons(source.skipped)}"
    )
    return summary


def _reasons(skipped: collections.Counter) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none"
