"""The tf.data input pipeline: TFRecord shards of a converted dataset to batches, each one dict.

`dataset` is one chain of steps, each with its reason beside it. Sharding
over the workers of a cluster: FILE (each worker reads whole shards,
disjoint) when every worker gets a shard, DATA otherwise (every worker reads
every shard and keeps every n-th example; slower, so it is logged). Training
input is sharded here, per input pipeline (`training_input`); evaluation input
is one pass that tf.distribute shards with the same policy.

Labels are the task's (training/tasks.py): the class index, or a target
normalised with the training split's statistics from the manifest (the
export undoes it). Augmented training batches are neither augmented nor
labelled here but in the training step, on the accelerator (training/step.py):
they bring the fields it reads, a seed and noise traces. Other splits are
never augmented. The spectrogram is not made here but in the model, too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import records, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.training import augmentation
from techtonics.training.tasks import Task

METADATA_FIELDS = ("snr_db", "source_distance_km", "trace_name")
# Parallel steps keep their order, always: a resumed epoch skips the batches read before the stop, and DATA
# sharding keeps every n-th example (the same rate as any order, docs/BENCHMARKS.md).
_PARALLEL = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """How examples are read and batched (what they are labelled with is the task's)."""

    batch_size: int = option(64, "Global batch size, split over all replicas.", minimum=1)
    # Shards arrive shuffled (conversion/plan.py); 1,024 records mix as well as 4,096 and read 1.5x faster
    # (docs/BENCHMARKS.md).
    shuffle_buffer: int = option(1024, "Examples in the shuffle buffer.", minimum=1)
    cache: str = option("", "Cache records after the first epoch: '', 'memory' or a file prefix.")
    deterministic: bool = option(
        False,
        "Deterministic ops: the same seed gives the same weights, bit for bit, and so does a resumed run "
        "(slower). The input order is the seed's either way.",
    )
    parallel_reads: int = option(8, "Shards read at once.", minimum=1)
    data_service: str = option(
        "",
        "tf.data service dispatcher (grpc://host:port) that prepares the training batches; "
        "'' to read in the trainer.",
        flag="data_service_address",
    )

    def __post_init__(self):
        options.check(self)
        if self.data_service and not re.fullmatch(r"(grpc://)?[\w.\-]+:\d+", self.data_service):
            raise UserError(f"--data_service_address={self.data_service}: use grpc://HOST:PORT")


def _parse(
    task: Task,
    encoding: str,
    normalization: tuple[float, float],
    training: bool,
    augmented_step: bool,
    class_weights: tuple[float, ...] | None,
    before_labels,
):
    """A batch of serialized records -> one dict of the examples the task keeps.

    Labelling parsed batches (then `rebatch`) costs nothing beside parsing,
    where filtering single records parsed each of them twice.
    The dict: `waveform` and `y`, the task's label; out of training also
    METADATA_FIELDS, the raw label, the fields the task's outputs are
    compared with (Output.truth) and the arrivals, for evaluation.
    augmented_step: instead, the fields that the step augments and labels
    (step.training_batch). class_weights: each example's weight in the loss
    (Keras's sample_weight), as `weight`. before_labels: an op over the
    parsed batch before it is labelled (evaluation's placing of P).
    """
    truths = (o.truth for o in task.outputs().values() if o.truth)  # what evaluation compares outputs with
    evaluated = ("waveform", *METADATA_FIELDS, "label", *truths, *augmentation.SAMPLE_TARGETS)
    # Training carries the waveform alone: Keras reads nothing else of it, and every field more is carried
    # through the rebatch and the data service for nothing.
    fields = ("waveform",) if training else tuple(dict.fromkeys(evaluated))

    def weighed(features):  # each example's class weight
        return (
            {"weight": tf.gather(tf.constant(class_weights, tf.float32), features["label"])}
            if class_weights
            else {}
        )

    def parse(serialized):
        features = records.parse_batch(serialized, encoding)
        if augmented_step:
            kept = task.kept({name: features[name] for name in {*augmentation.FIELDS, task.truth_field}})
            return {**kept, **weighed(kept)}
        if before_labels:
            features = before_labels(features)
        features, y = task.labels(features, normalization)
        return {**{name: features[name] for name in fields}, "y": y, **weighed(features)}

    return parse


def keras_batch(batch: dict) -> tuple:
    """(waveform, y[, weight]) of a batch, as Keras's fit and evaluate read it."""
    return (
        (batch["waveform"], batch["y"], batch["weight"])
        if "weight" in batch
        else (batch["waveform"], batch["y"])
    )


def check_augmentation(converted: ConvertedDataset, augment: augmentation.AugmentConfig) -> None:
    """Refuses in one line what the training split cannot give: noise added from a split without noise."""
    if augment.noise and not converted.class_counts("train")["noise"]:
        raise UserError(
            f"--augment_noise={augment.noise}: {converted.path}'s train split has no noise traces"
        )


@dataclasses.dataclass(frozen=True)
class Epochs:
    """Where a training stream starts, and how many batches an epoch is.

    steps: batches per epoch (Model.fit's steps_per_epoch); first: the epoch the stream starts in;
    done: batches of `first` already trained (a resume inside an epoch, callbacks.resume_point).
    """

    steps: int
    first: int = 0
    done: int = 0


def _epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """The seed of one epoch's file order and shuffle: a function of (seed, epoch) alone, so a resumed run
    draws what an uninterrupted one draws."""
    return tf.constant(seed, tf.int64) * 1_000_003 + epoch


def _noise_pool(converted: ConvertedDataset, seed: int, pool: int) -> tf.data.Dataset:
    """The training split's first NOISE_POOL noise records (or all) in a file order drawn from the seed (so
    each seed and worker has its own), read once and kept in memory."""

    def noise_only(serialized):
        features = records.parse_batch(serialized, converted.encoding)
        return tf.boolean_mask(features["waveform"], features["label"] != stead.EARTHQUAKE_CLASS)

    files = list(np.random.default_rng(seed).permutation(converted.files("train")))
    reader = tf.data.TFRecordDataset(files, compression_type=converted.compression)
    return reader.batch(256).map(noise_only).unbatch().take(pool).cache()


def _step_draws(
    converted: ConvertedDataset,
    augment: augmentation.AugmentConfig,
    seed: int,
    batch_size: int,
    batches_per_epoch: int,
):
    """A function of the epoch to its {"seed": (2,) int64[, "noise": noise waveforms]} a batch, for the
    augmented step: a stateless seed from (seed, epoch, batch), and NOISE_TRACES (or batch_size, if fewer)
    traces of the noise pool in an order drawn from (seed, epoch)."""
    check_augmentation(converted, augment)
    size = min(augmentation.NOISE_POOL, converted.class_counts("train")["noise"])
    pool = _noise_pool(converted, seed, size) if augment.noise else None

    def draws(epoch):
        batches = tf.data.Dataset.range(batches_per_epoch)
        seeds = batches.map(
            lambda batch: {"seed": tf.stack([tf.constant(seed, tf.int64), epoch * batches_per_epoch + batch])}
        )
        if pool is None:
            return seeds
        noise = (
            pool.shuffle(size, seed=_epoch_seed(seed, epoch))
            .repeat()
            .batch(min(augmentation.NOISE_TRACES, batch_size), drop_remainder=True)
        )
        return tf.data.Dataset.zip((seeds, noise)).map(lambda s, n: {**s, "noise": n})

    return draws


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


def _service(ds: tf.data.Dataset, address: str, job: str) -> tf.data.Dataset:
    """The batches made by a tf.data service; every trainer takes the next one of the job they share."""
    name = f"techtonics-{hashlib.sha256(job.encode()).hexdigest()[:16]}"
    policy = tf.data.experimental.service.ShardingPolicy.OFF
    return ds.apply(tf.data.experimental.service.distribute(policy, address, job_name=name))


def _records(
    files: list[str],
    converted: ConvertedDataset,
    config: InputConfig,
    context: tf.distribute.InputContext,
    pipelines: int,
    order_seed: tf.Tensor | int | None = None,
) -> tf.data.Dataset:
    """The serialized records of a split that this input pipeline reads; order_seed: the shards' order is
    drawn from it (None: as listed)."""
    FILE, DATA = tf.data.experimental.AutoShardPolicy.FILE, tf.data.experimental.AutoShardPolicy.DATA
    policy, sharded = shard_policy(len(files), pipelines), pipelines > 1
    ds = tf.data.Dataset.from_tensor_slices(files)
    if order_seed is not None:  # the same order on every worker (one seed)
        ds = ds.shuffle(len(files), seed=order_seed)
    if sharded and policy == FILE:  # each worker reads its own whole shards
        ds = ds.shard(pipelines, context.input_pipeline_id)
    ds = ds.interleave(  # several shards read at once: throughput, and more mixing
        lambda path: tf.data.TFRecordDataset(path, compression_type=converted.compression),
        cycle_length=min(config.parallel_reads, len(files)),
        **_PARALLEL,
    )
    if sharded and policy == DATA:  # fewer shards than workers: every worker keeps every n-th example
        ds = ds.shard(pipelines, context.input_pipeline_id)
    return ds


def dataset(
    converted: ConvertedDataset,
    split: str,
    config: InputConfig,
    task: Task,
    *,
    training: bool,
    seed: int = 0,
    epochs: Epochs | None = None,
    input_context: tf.distribute.InputContext | None = None,
    input_pipelines: int = 1,
    augment: augmentation.AugmentConfig | None = None,
    class_weights: tuple[float, ...] | None = None,
    before_labels=None,
) -> tf.data.Dataset:
    """Batches of one split, each one dict (`_parse`): `waveform` (B, 6000, 3) and `y`, as the task labels
    them, and what else the stage that reads it needs (`keras_batch` gives Keras its part).

    training: an endless stream of epochs of full batches (so steps are
    equal on every replica), each epoch a new pass over the split in an
    order drawn from (seed, epoch) alone; `epochs` (default: one pass's
    full batches, from epoch 0) says how long an epoch is and where the
    stream starts, so a resumed run reads what an uninterrupted one reads
    from there. Otherwise one pass in file order with the last partial batch.
    input_context: this input pipeline's place in a distributed job; the
    dataset then holds only its share, in per-replica batches.
    input_pipelines: the job's (one per worker), when tf.distribute shards
    this dataset itself.
    config.data_service (training only): the batches come from the service.
    augment (training only): how the training step augments the batches, which
    are then what it reads (step.training_batch). class_weights
    (training only): each class's weight, given with every example as
    `weight`. before_labels: an op over each parsed batch before the task
    labels it (evaluation.place_p: P where evaluation puts it).
    """
    files = converted.files(split)
    context = input_context or tf.distribute.InputContext()
    batch_size = context.get_per_replica_batch_size(config.batch_size)
    service = config.data_service if training else ""  # a finished service job cannot be read again
    pipelines = 1 if service else context.num_input_pipelines
    augment = augment if training and augment and augment.enabled else None
    class_weights = class_weights if training else None
    parse = _parse(
        task,
        converted.encoding,
        task.normalization(converted),
        training,
        bool(augment),
        class_weights,
        before_labels,
    )

    def batches(records: tf.data.Dataset) -> tf.data.Dataset:
        # Full training batches keep steps equal on every replica; a task that drops examples re-batches.
        ds = records.batch(batch_size, drop_remainder=training and not task.filters_examples)
        ds = ds.map(parse, **_PARALLEL)
        return ds.rebatch(batch_size, drop_remainder=training) if task.filters_examples else ds

    def read(order_seed=None) -> tf.data.Dataset:
        return _records(files, converted, config, context, pipelines, order_seed)

    def cached(records: tf.data.Dataset) -> tf.data.Dataset:  # the records once read, for every later pass
        return records.cache("" if config.cache == "memory" else f"{config.cache}-{split}")

    if not training:
        ds = batches(cached(read()) if config.cache else read())
    else:
        epochs = epochs or Epochs(steps(converted, split, config, task, training=True))
        # A step takes a batch for every replica that this input pipeline feeds.
        replicas = context.num_replicas_in_sync // context.num_input_pipelines
        per_epoch, done = epochs.steps * replicas, epochs.done * replicas
        draws = augment and _step_draws(
            converted, augment, seed * 7919 + context.input_pipeline_id, batch_size, per_epoch
        )
        # With a cache, the shards' order is drawn once (the cache holds it) and each epoch reshuffles.
        kept = cached(read(seed)) if config.cache else None

        def epoch_batches(epoch):
            # The epoch's seeds are tensors, given here in full: without this graph's own seed, TensorFlow's
            # get_seed takes them whatever the global seed (a global seed of 0 fails with a tensor seed).
            tf.compat.v1.set_random_seed(None)
            order = _epoch_seed(seed, epoch)
            ds = read(order) if kept is None else kept
            ds = ds.shuffle(config.shuffle_buffer, seed=order)  # the buffer mixes the interleaved stream
            # One pass a epoch; repeated only where a worker's share falls short of the epoch's steps, after
            # batching, so no record is read ahead into a pass that the epoch does not use.
            ds = batches(ds).repeat().take(per_epoch)
            if draws:  # what the step's augmentation draws from: new every batch, one per (seed, epoch, step)
                ds = tf.data.Dataset.zip((ds, draws(epoch))).map(lambda batch, drawn: {**batch, **drawn})
            return ds.skip(tf.where(epoch == epochs.first, tf.constant(done, tf.int64), 0))  # trained before

        ds = tf.data.Dataset.counter(epochs.first).flat_map(epoch_batches)
    ds = ds.with_options(_tf_options(input_context, len(files), input_pipelines))
    if service:  # batches made by the tf.data service's workers
        ds = _service(
            ds,
            service,
            repr((files, config, task.describe(), seed, epochs, batch_size, augment, class_weights)),
        )
    return ds.prefetch(tf.data.AUTOTUNE)  # the next batches ready while the model steps


def _tf_options(input_context, shards: int, input_pipelines: int) -> tf.data.Options:
    """Order, and how tf.distribute shards a dataset it distributes (not one made per pipeline)."""
    tf_options = tf.data.Options()
    tf_options.deterministic = True
    tf_options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if input_context else shard_policy(shards, input_pipelines)
    )
    return tf_options


def steps(converted: ConvertedDataset, split: str, config: InputConfig, task: Task, training: bool) -> int:
    """Batches in one pass: full ones for training, every example otherwise."""
    count = task.example_count(converted, split)
    batches = count // config.batch_size if training else math.ceil(count / config.batch_size)
    if batches < 1:
        raise UserError(
            f"{converted.path}: the {split} split has {count} examples for {task.describe()}, "
            f"fewer than one batch of {config.batch_size}"
        )
    return batches


def split_dataset(converted: ConvertedDataset, split: str, config: InputConfig, task: Task, **reading):
    """(dataset, batches per pass) of one split, read by one process; `reading`: `dataset`'s keywords."""
    return dataset(converted, split, config, task, **reading), steps(
        converted, split, config, task, reading["training"]
    )


def training_input(
    converted: ConvertedDataset,
    config: InputConfig,
    task: Task,
    seed: int,
    augment: augmentation.AugmentConfig | None = None,
    class_weights: tuple[float, ...] | None = None,
    epochs: Epochs | None = None,
):
    """(DatasetCreator, steps per epoch) of the training split for Model.fit under any strategy.

    Every input pipeline builds its own dataset of its own share (FILE or DATA
    sharding) in per-replica batches. A step takes config.batch_size examples
    in all, and an epoch count // batch_size steps (or epochs.steps), so
    every training example is read once per epoch across all workers when
    their shares are equal. The converter deals shards equal to within one
    example, so a worker's pass drifts from the epoch by at most one example
    per shard it reads. epochs: where the stream starts (a resumed run).
    """
    epochs = epochs or Epochs(steps(converted, "train", config, task, training=True))

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        ds = dataset(
            converted,
            "train",
            config,
            task,
            training=True,
            seed=seed,
            epochs=epochs,
            input_context=input_context,
            augment=augment,
            class_weights=class_weights,
        )
        # The augmented step reads the dict itself (step.training_batch); fit reads Keras's tuple otherwise.
        return ds if augment and augment.enabled else ds.map(keras_batch)

    return tf_keras.utils.experimental.DatasetCreator(dataset_fn), epochs.steps
