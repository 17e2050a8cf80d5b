"""The tf.data input pipeline: TFRecord shards to (waveform, label) batches.

files (shuffled per epoch with a fixed seed, so every worker of a cluster
shuffles alike) -> [this worker's shards] -> parallel `interleave` of
TFRecordDatasets -> [this worker's examples] -> [cache] -> shuffle -> repeat
-> batch -> batched `parse_example` + decode + labels, in parallel
[regression: keep earthquakes with a finite target, then `rebatch`] ->
[tf.data service] -> prefetch. The shards hold their traces in a random
order (converter.py), so the shuffle buffer mixes an already mixed stream.

Sharding over the workers of a cluster: FILE (each worker reads whole shards,
disjoint) when every worker gets a shard, DATA otherwise (every worker reads
every shard and keeps every n-th example; slower, so it is logged). Training
input is sharded here, per input pipeline (`training_input`); evaluation input
is one pass that tf.distribute shards with the same policy.

Labels come from records.py's schema: the class index for classification;
for regression the target normalised with the training split's statistics
from the manifest (models.py's export undoes it). The spectrogram is not made
here but in the model, on the accelerator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re

import tensorflow as tf
import tf_keras
from absl import logging

from techtonics import fileio, options, records, splits, stead
from techtonics.errors import UserError
from techtonics.options import option

METADATA_FIELDS = ("snr_db", "source_distance_km", "trace_name")


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """How examples are read, labelled and batched.

    task, target and seed are the training job's (TrainConfig sets them);
    num_workers is the job's number of input pipelines, which decides the
    auto-shard policy.
    """

    batch_size: int = option(64, "Global batch size, split over all replicas.", minimum=1)
    # Shards arrive shuffled (converter.py); 1,024 records mix as well as 4,096 and read 1.5x faster
    # (docs/BENCHMARKS.md).
    shuffle_buffer: int = option(1024, "Examples in the shuffle buffer.", minimum=1)
    cache: str = option("", "Cache records after the first epoch: '', 'memory' or a file prefix.")
    deterministic: bool = option(False, "Fixed input order and deterministic ops (slower).")
    parallel_reads: int = option(8, "Shards read at once.", minimum=1)
    data_service: str = option(
        "",
        "tf.data service dispatcher (grpc://host:port) that prepares the training batches; "
        "'' to read in the trainer.",
        flag="data_service_address",
    )
    task: str = "classification"
    target: str = "source_magnitude"
    seed: int = 0
    num_workers: int = 1

    def __post_init__(self):
        options.check(self)
        if self.task not in stead.TASKS:
            raise UserError(f"unknown task {self.task!r}; use one of {', '.join(stead.TASKS)}")
        if self.target not in records.TARGETS:
            raise UserError(f"unknown target {self.target!r}; use one of {', '.join(records.TARGETS)}")
        if self.num_workers < 1:
            raise UserError(f"num_workers {self.num_workers}: must be at least 1")
        if self.data_service and not re.fullmatch(r"(grpc://)?[\w.\-]+:\d+", self.data_service):
            raise UserError(f"--data_service_address={self.data_service}: use grpc://HOST:PORT")


class Records:
    """A converted dataset: its manifest, shard paths, example counts and target statistics."""

    def __init__(self, path: str):
        self.manifest = records.read_manifest(path)
        self.path = path
        self.directory = path.rsplit("/", 1)[0] if path.endswith(".json") else path
        self.encoding = self.manifest["waveform"]["encoding"]
        self.compression = records.compression_type(self.manifest)

    def _split(self, split: str) -> dict:
        if split not in splits.SPLITS:
            raise UserError(f"unknown split {split!r}; use one of {', '.join(splits.SPLITS)}")
        info = self.manifest["splits"].get(split)
        if not info or not info["count"]:
            raise UserError(f"{self.path}: the {split} split is empty; convert with a {split} fraction")
        return info

    def files(self, split: str) -> list[str]:
        """The split's shard paths; a missing shard is a one-line error."""
        paths = [fileio.join(self.directory, s["file"]) for s in self._split(split)["shards"]]
        missing = [p for p in paths if not fileio.exists(p)]
        if missing:
            raise UserError(f"{missing[0]}: shard listed in the manifest is missing ({len(missing)} missing)")
        return paths

    def count(self, split: str, task: str, target: str) -> int:
        """Examples the task reads from the split: all traces, or earthquakes with the target."""
        info = self._split(split)
        count = info["count"] if task == "classification" else info["target_counts"][target]
        if not count:
            raise UserError(f"{self.path}: the {split} split has no earthquakes with a {target}")
        return count

    def normalization(self, target: str) -> tuple[float, float]:
        """(mean, std) of the target over the training split."""
        stats = self.manifest["target_stats"][target]
        if not stats["count"]:
            raise UserError(f"{self.path}: no training traces have a {target}")
        return stats["mean"], stats["std"] if stats["std"] and stats["std"] > 0 else 1.0


def _labelled(config: InputConfig, encoding: str, normalization: tuple[float, float], metadata: bool):
    """Parses a batch into (waveform, label[, metadata]); regression keeps earthquakes with the target.

    Filtering parsed batches (then `rebatch`) costs nothing beside parsing,
    where filtering single records parsed each of them twice.
    """
    mean, std = normalization

    def parse(serialized):
        features = records.parse_batch(serialized, encoding)
        if config.task == "classification":
            label = features["label"]
        else:
            target = features[config.target]
            keep = tf.logical_and(
                tf.equal(features["label"], stead.EARTHQUAKE_CLASS), tf.math.is_finite(target)
            )
            features = {name: tf.boolean_mask(value, keep) for name, value in features.items()}
            label = (features[config.target][:, tf.newaxis] - mean) / std
        if not metadata:
            return features["waveform"], label
        extra = {name: features[name] for name in (*METADATA_FIELDS, "label", config.target)}
        return features["waveform"], label, extra

    return parse


def shard_policy(shards: int, workers: int) -> tf.data.experimental.AutoShardPolicy:
    """FILE when every worker gets a shard; otherwise DATA, with a warning that says why."""
    policy = tf.data.experimental.AutoShardPolicy
    if workers <= 1 or shards >= workers:
        return policy.FILE
    logging.warning(
        "%d shards for %d workers: every worker reads every shard and keeps 1 example in %d (DATA sharding); "
        "convert with --min_shards=%d or more to give each worker its own shards",
        shards,
        workers,
        workers,
        workers,
    )
    return policy.DATA


def dataset(
    files: list[str],
    config: InputConfig,
    training: bool,
    encoding: str = "float32",
    compression: str = "",  # "" or "GZIP"
    normalization: tuple[float, float] = (0.0, 1.0),
    metadata: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches of (waveform (B, 6000, 3), label) from TFRecord shards.

    files: the shards to read; config: how (InputConfig); encoding and
    compression: the manifest's (Records.encoding, Records.compression);
    normalization: (mean, std) that regression labels are scaled by.
    training: shuffled, repeated forever and full batches only (so steps are
    equal on every replica); otherwise one pass in file order with the last
    partial batch. metadata: a third element with METADATA_FIELDS, the raw
    label and the raw target, for evaluation. input_context: this input
    pipeline's place in a distributed job; the dataset then holds only its
    share, in per-replica batches. config.data_service (training only): the
    batches are made by the tf.data service, and every trainer takes the next
    one from a job they share.
    """
    if not files:
        raise UserError("no TFRecord files to read")
    context = input_context or tf.distribute.InputContext()
    batch_size = context.get_per_replica_batch_size(config.batch_size)
    # Only the endless training stream goes through the service: a finished job cannot be read again.
    service = config.data_service if training else ""
    pipelines = 1 if service else context.num_input_pipelines
    policy = shard_policy(len(files), pipelines)
    # DATA sharding keeps every n-th example, so every worker must read them in one order.
    deterministic = config.deterministic or not training or policy == policy.DATA
    source = tf.data.Dataset.from_tensor_slices(list(files))
    if training:
        source = source.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    if pipelines > 1 and policy == policy.FILE:
        source = source.shard(pipelines, context.input_pipeline_id)
    ds = source.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=compression),
        cycle_length=min(config.parallel_reads, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if pipelines > 1 and policy == policy.DATA:
        ds = ds.shard(pipelines, context.input_pipeline_id)
    if config.cache:
        ds = ds.cache("" if config.cache == "memory" else config.cache)
    if training:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True).repeat()
    regression = config.task == "regression"
    ds = ds.batch(batch_size, drop_remainder=training and not regression)
    ds = ds.map(
        _labelled(config, encoding, normalization, metadata),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if regression:
        ds = ds.rebatch(batch_size, drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context
        else shard_policy(len(files), config.num_workers)
    )
    ds = ds.with_options(options)
    if service:
        job = hashlib.sha256(repr((files, config, batch_size)).encode()).hexdigest()[:16]
        ds = ds.apply(
            tf.data.experimental.service.distribute(
                tf.data.experimental.service.ShardingPolicy.OFF, service, job_name=f"techtonics-{job}"
            )
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def _steps(data: Records, split: str, config: InputConfig, training: bool) -> int:
    count = data.count(split, config.task, config.target)
    steps = count // config.batch_size if training else math.ceil(count / config.batch_size)
    if steps < 1:
        raise UserError(
            f"{data.path}: the {split} split has {count} examples for {config.task}, "
            f"fewer than one batch of {config.batch_size}"
        )
    return steps


def _normalization(data: Records, config: InputConfig) -> tuple[float, float]:
    return data.normalization(config.target) if config.task == "regression" else (0.0, 1.0)


def split_dataset(data: Records, split: str, config: InputConfig, training: bool, metadata: bool = False):
    """(dataset, batches per pass) of one split of a converted dataset, read by one process.

    config: how to read it; training: shuffled and repeated (see `dataset`);
    metadata: a third element with the trace's fields, for evaluation.
    """
    steps = _steps(data, split, config, training)
    ds = dataset(
        data.files(split),
        config,
        training,
        data.encoding,
        data.compression,
        _normalization(data, config),
        metadata,
    )
    return ds, steps


def training_input(data: Records, config: InputConfig):
    """(DatasetCreator, steps per epoch) of the training split for Model.fit under any strategy.

    Every input pipeline builds its own dataset of its own share (FILE or DATA
    sharding) in per-replica batches. A step takes config.batch_size examples
    in all, and an epoch count // batch_size steps, so every training example
    is read once per epoch across all workers when their shares are equal.
    The converter deals shards equal to within one example, so a worker's
    pass drifts from the epoch by at most one example per shard it reads.
    """
    steps = _steps(data, "train", config, training=True)
    files, normalization = data.files("train"), _normalization(data, config)

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return dataset(
            files, config, True, data.encoding, data.compression, normalization, input_context=input_context
        )

    return tf_keras.utils.experimental.DatasetCreator(dataset_fn), steps
