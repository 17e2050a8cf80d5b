"""Input figures: the tf.data pipeline against raw records, from_generator over h5py, and PNGs."""

from __future__ import annotations

import os
import time

import tensorflow as tf

from techtonics.bench import conversion, datasets, png_baseline
from techtonics.bench.report import Row
from techtonics.core import fileio
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.training import augmentation, input_pipeline, tasks


def examples_per_second(ds: tf.data.Dataset, batches: int, passes: int = 3) -> float:
    """Steady examples/s over `passes` x `batches` batches of a repeated dataset.

    One untimed pass first: tracing, threads, and a full shuffle buffer, whose
    filling a long run amortises over its epochs.
    """
    iterator = iter(ds)
    for _ in range(batches):
        next(iterator)
    start, examples = time.perf_counter(), 0
    for _ in range(passes * batches):
        batch = next(iterator)  # the input pipeline's dict, or a tuple of the other readers
        examples += int(tf.shape(batch["waveform"] if isinstance(batch, dict) else batch[0])[0])
    return examples / (time.perf_counter() - start)


def _h5py_generator(pairs: list[stead.SteadPair]):
    """The usual do-it-yourself input: one h5py read per trace, labels from the CSV."""
    for pair in pairs:
        meta = stead.read_metadata(pair.csv)
        with stead.WaveformFile(pair.hdf5) as waveforms:
            for name, category in zip(meta.trace_name, meta.trace_category):
                yield waveforms.read(name), stead.CATEGORY_CLASS[category]


def pipeline_rate(
    records_dir: str,
    batch_size: int,
    task: str = "classification",
    augment: augmentation.AugmentConfig | None = None,
) -> float:
    """Steady records/s that the training input pipeline reads from converted records (augment: the one
    that feeds a step augmenting so).

    For regression, which keeps only earthquakes with the target, that is
    its examples/s times the records read per example kept.
    """
    source = ConvertedDataset(records_dir)
    config, task_object = input_pipeline.InputConfig(batch_size=batch_size), tasks.get(task)
    pipeline, steps = input_pipeline.split_dataset(
        source, "train", config, task_object, training=True, augment=augment
    )
    kept = task_object.example_count(source, "train") / source.count("train")
    return examples_per_second(pipeline, steps) / kept


def pipeline_rates(pairs: list[stead.SteadPair], records_dir: str, batch_size: int) -> dict[str, float]:
    """Examples/s: raw record bytes, the input pipeline, and from_generator over h5py."""
    source = ConvertedDataset(records_dir)
    batches = source.count("train") // batch_size  # one pass
    raw = (
        tf.data.Dataset.from_tensor_slices(source.files("train"))
        .interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type=source.compression),
            cycle_length=8,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False,
        )
        .repeat()
        .batch(batch_size)
        .map(lambda s: (s,))
        .prefetch(tf.data.AUTOTUNE)
    )
    signature = (tf.TensorSpec(stead.WAVEFORM_SHAPE, tf.float32), tf.TensorSpec([], tf.int64))
    generator = tf.data.Dataset.from_generator(lambda: _h5py_generator(pairs), output_signature=signature)
    generator = generator.repeat().batch(batch_size).prefetch(tf.data.AUTOTUNE)
    examples_per_second(raw, batches, passes=1)  # page cache warm for every reader
    return {
        "raw": examples_per_second(raw, batches),
        "pipeline": pipeline_rate(records_dir, batch_size),
        "generator": examples_per_second(generator, batches),
    }


def run(workdir: str, traces: int, batch_size: int, processes: int, png_traces: int) -> list[Row]:
    """Input figures on generated STEAD of `traces` traces, in batches of batch_size.

    processes: processes converting and rendering PNGs; png_traces: traces
    rendered as the original's PNG files.
    """
    pairs = stead.find_pairs(datasets.generated_stead(workdir, traces))
    _, converted = conversion.steady_rates(pairs, os.path.join(workdir, "records"), processes)
    records_dir = datasets.converted_records(workdir, traces)
    rates = pipeline_rates(pairs, records_dir, batch_size)
    regression = pipeline_rate(records_dir, batch_size, "regression")
    augmented = pipeline_rate(records_dir, batch_size, augment=augmentation.RECOMMENDED)
    # The profile shows the pipeline bound by reading record bytes: half the bytes per example.
    int16_dir = datasets.converted_records(workdir, traces, "int16")
    pipeline_rate(int16_dir, batch_size)  # page cache warm
    int16 = pipeline_rate(int16_dir, batch_size)
    png_dir = os.path.join(workdir, f"png-{traces}")
    fileio.rmtree(png_dir)
    rendered, paths, labels = png_baseline.render_rate(pairs, png_dir, png_traces, processes)
    parallel_reads = input_pipeline.InputConfig().parallel_reads
    png_reader = png_baseline.read_dataset(paths, labels, batch_size, parallel_reads)
    png_read = examples_per_second(png_reader, len(paths) // batch_size)
    pipeline, generator = rates["pipeline"], rates["generator"]
    return [
        Row("pipeline.raw", "raw record bytes, interleave 8", rates["raw"], "examples/s"),
        Row(
            "pipeline.rate",
            "input pipeline (shuffle, parse, decode, labels)",
            pipeline,
            "examples/s",
            "raw record bytes",
            pipeline / rates["raw"],
            ">= 0.5",
        ),
        Row(
            "pipeline.regression",
            "input pipeline, regression (records read/s; keeps earthquakes)",
            regression,
            "examples/s",
            "classification",
            regression / pipeline,
            ">= 0.9",
        ),
        Row(
            "pipeline.augmented",
            "input pipeline of the augmented step (augmentation.RECOMMENDED's seeds and noise traces)",
            augmented,
            "examples/s",
            "input pipeline",
            augmented / pipeline,
            ">= 0.9",
        ),
        Row(
            "pipeline.int16",
            "input pipeline, int16 records (--encoding=int16)",
            int16,
            "examples/s",
            "float32 records",
            int16 / pipeline,
        ),
        Row("pipeline.generator", "from_generator over h5py", generator, "examples/s"),
        Row(
            "pipeline.vs_generator",
            "input pipeline vs from_generator",
            pipeline / generator,
            "x",
            "from_generator",
            pipeline / generator,
            ">= 5",
        ),
        Row("png.render", f"original: render PNG spectrograms, {processes} processes", rendered, "traces/s"),
        Row(
            "png.preparation",
            f"preparation: conversion vs PNG rendering, {processes} processes",
            converted / rendered,
            "x",
            "PNG rendering",
            converted / rendered,
            ">= 20",
        ),
        Row("png.read", f"original: read PNGs back, {parallel_reads} parallel reads", png_read, "examples/s"),
        Row(
            "png.per_epoch",
            "per-epoch input: pipeline vs reading PNGs",
            pipeline / png_read,
            "x",
            "reading PNGs",
            pipeline / png_read,
            ">= 1",
        ),
    ]
