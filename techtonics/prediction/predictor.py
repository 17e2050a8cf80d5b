"""Exported models on waveforms: several models, one pass over the data, under any tf.distribute strategy.

`Predictor` loads export directories (model/export.py; only the
SavedModels are needed, not the training directories) under a strategy's
scope and answers every model from one batch of raw (n, 6000, 3) E/N/Z
waveforms. A batch is split into one slice per replica on the host, so
every GPU of a machine predicts and a short last batch needs no padding.

Each model's outputs are columns named after the model (its directory,
`models/classification/export` -> `classification`), as its task names them
(its task's declared outputs, task_base.Output): a classifier gives
`<name>.p_noise` and `<name>.p_earthquake`, a regressor `<name>.<target>`
in the target's own units, a picker its detection and picks. `predict`
runs the whole job; outputs.py writes what it finds.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics.cluster import distribute
from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead
from techtonics.model import export
from techtonics.prediction import chunk_store, continuous, inputs, outputs, sharding
from techtonics.training import tasks
from techtonics.training.task_base import ESTIMATES


def model_name(path: str) -> str:
    """`classification` for models/classification/export (or models/classification/export/)."""
    parts = [p for p in path.rstrip("/").split("/") if p]
    return parts[-2] if len(parts) > 1 and parts[-1] == "export" else parts[-1]


def model_names(paths: list[str]) -> list[str]:
    """Each model's column prefix: its model_name, with _2, _3 ... on the second and later of one name."""
    if not all(path.strip("/") for path in paths):
        raise UserError("--model=: an empty path; give an exported model directory")
    seen, names = collections.Counter(), []
    for path in paths:
        name = model_name(path)
        while True:  # a/picking, b/picking_2, c/picking: the third is picking_3, not a second picking_2
            seen[name] += 1
            candidate = name if seen[name] == 1 else f"{name}_{seen[name]}"
            if candidate not in names:
                break
        names.append(candidate)
    return names


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """One exported model as prediction uses it."""

    name: str  # its column prefix
    loaded: object  # the restored SavedModel (model/export.py)
    info: dict  # its techtonics.json
    task: tasks.Task


class Predictor:
    """Every exported model of `paths` on the same batches."""

    def __init__(
        self,
        paths: list[str],
        strategy: tf.distribute.Strategy,
        batch_size: int | None = None,
        per_sample: bool = False,
    ):
        """batch_size: every batch shorter than this is padded to it (with zeros) before the models run,
        so a waveform's answer does not depend on the batch it came in: a CPU's convolutions sum in an
        order that follows the batch's size, which moved a last digit between one machine's run and a
        merge of shards. None: batches run as they come. per_sample: answer the outputs that are no
        column too (a picker's phase probabilities, (n, 6000, 3)), as the pick-benchmark reads them."""
        if not paths:
            raise UserError("no model: give --model=EXPORT_DIR (a model directory's export/)")
        self.strategy, self.batch_size = strategy, batch_size
        self.models: list[LoadedModel] = []
        with strategy.scope():
            for path, name in zip(paths, model_names(paths)):
                loaded, info = export.load_exported(path)
                self.models.append(LoadedModel(name, loaded, info, tasks.from_info(info)))
        # Every model's declared outputs that it answers, as MODEL.OUTPUT, and the model of each.
        self.outputs, self._model_of = {}, {}
        for m in self.models:
            for name, o in m.task.outputs().items():
                if o.is_column or per_sample:
                    confidence = o.confidence and f"{m.name}.{o.confidence}"
                    self.outputs[f"{m.name}.{name}"] = dataclasses.replace(o, confidence=confidence)
                    self._model_of[f"{m.name}.{name}"] = m
        self.columns = [c for c, o in self.outputs.items() if o.is_column]
        self.channels = "".join(
            c for c in stead.CHANNELS if any(c in m.info["image_channels"] for m in self.models)
        )
        detectors = [c for c, o in self.outputs.items() if o.kind == "earthquake_probability"]
        self.detector = detectors[0] if detectors else None
        # What a detection reports: every model's estimates (arrivals, magnitudes, values), not probabilities.
        self.estimates = [c for c, o in self.outputs.items() if o.kind in ESTIMATES]
        # The arrivals reported from their most confident window (a picker's), by that probability's column.
        self.chosen_by = {c: o.confidence for c, o in self.outputs.items() if o.confidence}
        # The estimates that QuakeML holds as magnitudes or picks, by the detection field reporting them.
        self.catalog_entries = {
            continuous.estimate_field(c): o.catalog_entry()
            for c, o in self.outputs.items()
            if o.catalog_entry()
        }
        # The decision threshold the detecting model's evaluation chose (--threshold=auto); None: none.
        self.recorded_threshold = self.detector and export.recorded_threshold(
            self._model_of[self.detector].info
        )
        self._step = tf.function(self._answers)

    def _answers(self, waveform: tf.Tensor) -> dict[str, tf.Tensor]:
        answers = {m.name: m.loaded.serve(waveform) for m in self.models}
        return {column: o.read(answers[self._model_of[column].name]) for column, o in self.outputs.items()}

    def predict(self, waveform: np.ndarray | tf.Tensor) -> dict[str, np.ndarray]:
        """Every output answered (`outputs`) for a batch of (n, 6000, 3) waveforms, in batch order."""
        waveform = np.asarray(waveform, np.float32)
        count = len(waveform)
        if self.batch_size and count < self.batch_size:
            waveform = np.concatenate(
                [waveform, np.zeros((self.batch_size - count, *waveform.shape[1:]), np.float32)]
            )
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            answers = {k: v.numpy() for k, v in self._step(tf.convert_to_tensor(waveform)).items()}
        else:
            parts = np.array_split(waveform, replicas)
            values = self.strategy.experimental_distribute_values_from_function(
                lambda context: tf.constant(parts[context.replica_id_in_sync_group])
            )
            per_replica = self.strategy.run(self._step, args=(values,))
            answers = {
                k: np.concatenate([t.numpy() for t in self.strategy.experimental_local_results(v)])
                for k, v in per_replica.items()
            }
        return {k: v[:count] for k, v in answers.items()}


DEFAULT_THRESHOLD = 0.5  # --threshold=auto where the detecting export records no threshold


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """One prediction job: the exported models, the output directory and how to run."""

    models: tuple[str, ...]
    output_dir: str
    batch_size: int = option(256, "Traces or windows per batch, split over all replicas.", minimum=1)
    # One machine's devices: prediction needs no all-reduce, and the workers of a cluster job would each
    # write the same outputs. Split the input across machines instead.
    strategy: str = option(
        "auto",
        "tf.distribute strategy (auto: every GPU of this machine).",
        choices=distribute.MACHINE_STRATEGIES,
    )
    # At least one sample; at most a day, which keeps a stride's samples an exact integer (beyond, windows a
    # day apart are a sampling, not a scan).
    stride: float = option(
        10.0,
        "Seconds between window starts (--waveforms), from one sample (0.01) to a day.",
        minimum=1 / stead.SAMPLING_RATE_HZ,
        maximum=86_400.0,
    )
    fill_gaps: bool = option(
        False,
        "Fill a window's gaps by linear interpolation instead of skipping it (--waveforms); predictions.csv "
        "says how many seconds of each window were filled, detections.csv how many windows.",
    )
    threshold: str = option(
        "auto",
        "Earthquake probability that makes a window a detection (--waveforms), in (0, 1]; auto: the one "
        "the detecting model's evaluation chose on its validation split (0.5 if it records none).",
    )
    max_figures: int = option(10, "Stations drawn with their detections (--waveforms).", minimum=0)
    progress: bool = option(True, "Show a progress bar on long runs.")

    def __post_init__(self):
        options.check(self)
        self.given_threshold()  # refuses a bad value now, before any model loads
        samples = self.stride * stead.SAMPLING_RATE_HZ
        if abs(samples - round(samples)) > 1e-6:  # windows start on samples: another stride would be rounded
            raise UserError(f"--stride={self.stride:g}: give a whole number of samples (0.01 s at 100 Hz)")

    def given_threshold(self) -> float | None:
        """--threshold as a probability; None for auto."""
        if self.threshold == "auto":
            return None
        try:
            value = float(self.threshold)
        except ValueError:
            raise UserError(f"--threshold={self.threshold}: give a probability in (0, 1] or auto") from None
        if not 0.0 < value <= 1.0:
            raise UserError(f"--threshold={self.threshold}: must be in (0, 1]")
        return value


def _predict_all(
    predictor: Predictor, source: inputs.Source, writer: outputs.PredictionWriter, bar, batch_size
) -> None:
    """Every batch of a source of traces through every model, into predictions.csv."""
    for waveform, identity in source.make(batch_size, predictor.channels):
        answers = predictor.predict(waveform)
        values = {k: v.numpy() for k, v in identity.items()}
        writer.write({k: v.astype(str) if v.dtype == object else v for k, v in values.items()}, answers)
        if bar:
            bar.add(len(waveform))


def _predict_chunks(predictor: Predictor, source: inputs.Source, store, bar, batch_size: int) -> int:
    """Every window of the source's chunks left to do through every model, each chunk into its file once all
    its windows are predicted (chunk_store); returns the windows predicted."""
    columns = ["window_start", "gap_filled_s", *predictor.columns]
    received = collections.defaultdict(list)  # chunk index -> its batches' columns so far
    predicted, started = 0, time.perf_counter()

    def store_finished():  # the chunks read so far whose windows are all predicted, in order
        while source.reads:
            found = source.reads[0]
            parts = received.get(found.chunk.index, [])
            if sum(len(part["window_start"]) for part in parts) < found.windows:
                return
            source.reads.popleft()
            received.pop(found.chunk.index, None)
            values = {c: np.concatenate([p[c] for p in parts]) if parts else np.zeros(0) for c in columns}
            store.write(found.chunk.index, found.chunk.station.id, values, found.skipped, found.plot)
            if bar:
                rate = predicted / max(time.perf_counter() - started, 1e-9)
                bar.add(1, values=[("windows/s", rate)])

    for waveform, identity in source.make(batch_size, predictor.channels):
        values = {**{k: v.numpy() for k, v in identity.items()}, **predictor.predict(waveform)}
        chunk = values.pop("chunk")
        for index in np.unique(chunk):
            received[int(index)].append({c: values[c][chunk == index] for c in columns})
        predicted += len(waveform)
        store_finished()
    store_finished()  # chunks without windows that were read after the last batch
    return predicted


def predict(
    config: PredictConfig, source: inputs.Source, strategy: tf.distribute.Strategy | None = None
) -> dict:
    """Every model on every trace or window of source; writes predictions.csv (and detections.csv, figures).

    strategy: in place of config.strategy's (tests pass one over logical
    devices). Returns the summary, which is also printed as one line.
    """
    fileio.check_writable(config.output_dir, "the predictions")
    with fileio.directory_lock(config.output_dir, "a prediction"):
        strategy = strategy or distribute.machine_strategy(config.strategy)
        predictor = Predictor(list(config.models), strategy, config.batch_size)
        # A continuous run into a directory that holds another's is refused here, before anything is removed.
        store = _chunk_store(config, source, predictor) if source.kind == "waveforms" else None
        try:
            return _predict(config, source, predictor, store)
        except BaseException:
            _remove_outputs(config.output_dir)  # a failed run leaves nothing half-written, not even figures/
            raise


def _remove_outputs(output_dir: str) -> None:
    """What a run writes into output_dir, and killed runs' temporaries."""
    fileio.remove_temporaries(output_dir)
    fileio.rmtree(fileio.join(output_dir, "figures"))
    for name in ("predictions.csv", *outputs.DETECTION_FILES, "summary.json"):
        fileio.remove(fileio.join(output_dir, name))


def _predict(
    config: PredictConfig, source: inputs.Source, predictor: Predictor, store: chunk_store.ChunkStore | None
) -> dict:
    """predict's work, once it holds the output directory (and, for continuous input, its chunk store)."""
    # What an earlier run into this directory left: killed runs' temporaries, stations it drew, detections
    # this run may not write, and its summary, written last, which marks a finished run (a merge refuses a
    # shard without one). A continuous run's finished chunks stay: it resumes from them.
    _remove_outputs(config.output_dir)
    summary = {
        "models": [m.name for m in predictor.models],
        "shard": source.shard.summary(source.kind, source.units),
        "model_ids": [sharding.model_id(path) for path in config.models],
        "settings": {k: getattr(config, k) for k in ("stride", "fill_gaps", "threshold", "max_figures")},
    }
    started = time.perf_counter()
    if store:
        predicted = _predict_continuous(config, source, predictor, store, summary)
    else:
        predicted = _predict_traces(config, source, predictor, summary)
    seconds = time.perf_counter() - started
    summary.update(seconds=seconds, predictions_per_second=predicted / seconds)
    fileio.write_atomic(fileio.join(config.output_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    if source.kind == "waveforms" and source.shard.count == 1:  # a shard keeps its chunks for --merge
        chunk_store.remove(config.output_dir)  # once the summary marks the outputs whole
    unit = "windows" if source.kind == "waveforms" else "traces"
    detected = f", {summary['detections']} detections" if "detections" in summary else ""
    shard = f"{source.shard.name}: " if source.shard.count > 1 else ""
    print(
        f"{shard}predicted {predicted:,} {unit} with {len(predictor.models)} model"
        f"{'' if len(predictor.models) == 1 else 's'} in {seconds:.1f} s "
        f"({summary['predictions_per_second']:,.0f}/s){detected}; skipped: {reasons(summary['skipped'])}"
    )
    return summary


def _predict_traces(config: PredictConfig, source: inputs.Source, predictor: Predictor, summary: dict) -> int:
    """Traces (STEAD, SeisBench, records) streamed into predictions.csv; fills summary, returns the count."""
    path = fileio.join(config.output_dir, "predictions.csv")
    writer = outputs.PredictionWriter(path, source.identity, predictor.columns)
    bar = tf_keras.utils.Progbar(source.total, unit_name="prediction") if config.progress else None
    try:
        _predict_all(predictor, source, writer, bar, config.batch_size)
        if not writer.rows and source.shard.count == 1:  # a shard may hold nothing: its merge judges
            raise UserError(f"nothing to predict: every input was skipped ({reasons(source.skipped)})")
        writer.close()
    except BaseException:
        writer.discard()
        if bar:  # its line is still open: the error starts a line of its own
            print(flush=True)
        raise
    if bar and source.total is None:  # a bar without a known end leaves its line open
        print(flush=True)
    summary.update(predictions=writer.rows, skipped=dict(source.skipped), predictions_csv=writer.path)
    return writer.rows


def _chunk_store(
    config: PredictConfig, source: inputs.Source, predictor: Predictor
) -> chunk_store.ChunkStore:
    """The output directory's chunk store, held to this run's settings (refused in one line if it holds
    another's): the source's (input, range, stations, stride, the plan's digest), the models', the
    detection threshold and the shard."""
    threshold = _detection_threshold(config, predictor)
    settings = {
        **source.settings,
        "models": [sharding.model_id(path)["digest"] for path in config.models],
        "threshold": threshold,
    }
    detecting = outputs.Detecting(
        predictor.detector,
        predictor.estimates,
        threshold,
        config.max_figures,
        predictor.catalog_entries,
        predictor.chosen_by,
    )
    return chunk_store.ChunkStore(
        config.output_dir, settings, [source.shard.index, source.shard.count], detecting
    )


def _predict_continuous(
    config: PredictConfig,
    source: inputs.Source,
    predictor: Predictor,
    store: chunk_store.ChunkStore,
    summary: dict,
) -> int:
    """Chunks of recordings, each into its file (resuming from those an earlier run finished), then the
    outputs made from all of them; fills summary, returns the windows predicted by this run."""
    detecting = store.detecting
    fileio.remove_temporaries(store.directory)  # a killed run's chunk that was being written
    source.done = store.done() & {c.index for c in source.chunks}
    if source.done:
        print(f"resuming: {len(source.done)} of {len(source.chunks)} station-days are done")
    bar = None
    if config.progress:
        bar = tf_keras.utils.Progbar(
            len(source.chunks), unit_name="station-day", stateful_metrics=["windows/s"]
        )
        bar.update(len(source.done))
    try:
        predicted = _predict_chunks(predictor, source, store, bar, config.batch_size)
    except BaseException:
        if bar:
            print(flush=True)
        raise
    paths = [store.path(c.index) for c in source.chunks]
    written = outputs.write_continuous(
        paths, config.output_dir, source.identity, predictor.columns, detecting
    )
    written["skipped"] = dict(written["skipped"] + source.skipped)
    if not written["predictions"] and source.shard.count == 1:  # a shard may hold nothing: its merge judges
        raise UserError(f"nothing to predict: every input was skipped ({reasons(written['skipped'])})")
    summary.update(
        written,
        station_days=len(source.chunks),
        resumed_station_days=len(source.done),
        chunks=list(source.shard.bounds(source.units)),
        run=store.settings,  # a merge joins only shards of one run
        detecting=dataclasses.asdict(detecting),
    )
    return predicted


def _detection_threshold(config: PredictConfig, predictor: Predictor) -> float:
    """--threshold; for auto, the one the detecting model's export records (0.5, said in a line, if none)."""
    given = config.given_threshold()
    if given is not None:
        return given
    if not predictor.detector:  # no model detects: nothing uses the threshold
        return DEFAULT_THRESHOLD
    if predictor.recorded_threshold is None:
        print(
            f"--threshold=auto: the model of {predictor.detector} records no decision threshold (not "
            f"evaluated after training, or exported by 0.1.0); using {DEFAULT_THRESHOLD}"
        )
        return DEFAULT_THRESHOLD
    print(
        f"--threshold=auto: {predictor.recorded_threshold:.4g}, the best F1 of {predictor.detector} "
        "on its validation split"
    )
    return predictor.recorded_threshold


def reasons(skipped: collections.Counter) -> str:
    """Skip counts as one phrase: "2 station_missing_EN, 6 window_in_a_gap" (or "none")."""
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none"
