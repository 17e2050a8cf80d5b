"""Benchmarks that print ratios against baselines measured in the same run.

    python -m techtonics.bench --workdir=/tmp/techtonics-bench            # about 3 minutes on 2 cores
    python -m techtonics.bench --workdir=/tmp/techtonics-bench --quick    # under a minute

Conversion: converter traces/s against reading the same traces with h5py
alone on the same warm worker processes, 1 against all writer processes, the
end-to-end rate of a whole run, and the peak RSS of any one process of a
conversion at two sizes. Input pipeline: examples/s against reading the raw
record bytes and against tf.data.Dataset.from_generator over h5py. Training:
examples/s of each CNN fed by the pipeline against the same model fed one
batch from memory, with and without XLA. Results go to WORKDIR/bench.json
and stdout as a Markdown table; `--parts=pipeline` measures only the latter.
"""

import dataclasses
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time

import tensorflow as tf
import tf_keras
from absl import app, flags

from techtonics import convert, data, fileio, models, stead, synthetic, trainer

FLAGS = flags.FLAGS


def _read_shard(args) -> int:
    shard, config = args
    for pair_index, meta in shard.traces:
        convert.waveform_file(config.pairs[pair_index].hdf5).read(meta["trace_name"])
    return len(shard.traces)


def _warm_up(_) -> None:
    import tensorflow  # noqa: F401, PLC0415  (a converter worker's start-up, paid before timing)


def steady_rates(pairs: list[stead.SteadPair], output_dir: str, workers: int) -> tuple[float, float]:
    """(h5py read, conversion) traces/s over the same planned shards on one warm pool.

    Both run on the same started processes, so the ratio compares the work
    per trace, not process start-up (which a real 85 GB run amortises).
    """
    fileio.rmtree(output_dir)
    fileio.makedirs(fileio.join(output_dir, convert.PROGRESS_DIR))
    config = convert.ConvertConfig(pairs=tuple(pairs), output_dir=output_dir, num_workers=workers)
    shards = convert.plan(config).shards
    traces = sum(len(s.traces) for s in shards)
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    with context.Pool(workers, initializer=convert.init_worker, initargs=(counter,)) as pool:
        pool.map(_warm_up, range(workers), chunksize=1)
        pool.map(_read_shard, [(s, config) for s in shards], chunksize=1)  # page cache warm
        rates = []
        for task in (_read_shard, convert.run_shard):
            start = time.perf_counter()
            pool.map(task, [(s, config) for s in shards], chunksize=1)
            rates.append(traces / (time.perf_counter() - start))
    return rates[0], rates[1]


def end_to_end_rate(pairs: list[stead.SteadPair], output_dir: str, workers: int) -> float:
    """Traces/s of convert() from start to manifest, process start-up included."""
    fileio.rmtree(output_dir)
    config = convert.ConvertConfig(pairs=tuple(pairs), output_dir=output_dir, num_workers=workers)
    start = time.perf_counter()
    manifest = convert.convert(config, progress=False)
    return sum(s["count"] for s in manifest["splits"].values()) / (time.perf_counter() - start)


def conversion_peak_rss_mb(stead_dir: str, output_dir: str, workers: int) -> float:
    """Largest resident set of any process of a conversion run from the command line."""
    fileio.rmtree(output_dir)
    tool = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "convert_to_tfrecord.py"
    )
    command = [sys.executable, tool, f"--stead_dir={stead_dir}", f"--output_dir={output_dir}",
               f"--num_workers={workers}", "--noprogress"]  # fmt: skip
    # A fresh interpreter per measurement: RUSAGE_CHILDREN is the largest descendant so far.
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024.0


@dataclasses.dataclass
class Row:
    """One line of the results table."""

    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None
    goal: str = ""


def run_conversion(workdir: str, traces: int, small: int, workers: int) -> list[Row]:
    """Conversion figures on generated STEAD of `traces` (and `small`) traces."""
    big_dir, small_dir = os.path.join(workdir, f"stead-{traces}"), os.path.join(workdir, f"stead-{small}")
    for directory, n in ((big_dir, traces), (small_dir, small)):
        if not os.path.exists(os.path.join(directory, "chunk2.csv")):
            synthetic.write_synthetic_stead(directory, n // 2, n - n // 2, seed=0)
    pairs = stead.find_pairs(big_dir)
    out = os.path.join(workdir, "records")
    read, converted = steady_rates(pairs, out, workers)
    read_1, converted_1 = steady_rates(pairs, out, 1)
    end_to_end = end_to_end_rate(pairs, out, workers)
    rss_big = conversion_peak_rss_mb(big_dir, out, workers)
    rss_small = conversion_peak_rss_mb(small_dir, out, workers)
    return [
        Row(f"h5py read, {workers} processes", read, "traces/s"),
        Row(f"conversion, {workers} processes", converted, "traces/s", "h5py read", converted / read, ">= 0.8"),
        Row("h5py read, 1 process", read_1, "traces/s"),
        Row("conversion, 1 process", converted_1, "traces/s", "h5py read", converted_1 / read_1),
        Row(f"conversion, {workers} vs 1 processes", converted / converted_1, "x", "1 process",
            converted / converted_1, ">= 1.6"),
        Row(f"end to end, {workers} processes (start-up included)", end_to_end, "traces/s"),
        Row(f"peak RSS, {small:,} traces", rss_small, "MB"),
        Row(f"peak RSS, {traces:,} traces", rss_big, "MB", f"{small:,} traces", rss_big / rss_small, "<= 1.1"),
    ]  # fmt: skip


def _examples_per_second(ds, batches: int, passes: int = 3) -> float:
    """Steady examples/s over `passes` x `batches` batches of a repeated dataset.

    One untimed pass first: tracing, threads, and a full shuffle buffer, whose
    filling a long run amortises over its epochs.
    """
    iterator = iter(ds)
    for _ in range(batches):
        next(iterator)
    start, examples = time.perf_counter(), 0
    for _ in range(passes * batches):
        examples += int(tf.shape(next(iterator)[0])[0])
    return examples / (time.perf_counter() - start)


def _h5py_generator(pairs: list[stead.SteadPair]):
    """The usual do-it-yourself input: one h5py read per trace, labels from the CSV."""
    for pair in pairs:
        meta = stead.read_metadata(pair.csv)
        with stead.WaveformFile(pair.hdf5) as waveforms:
            for name, category in zip(meta.trace_name, meta.trace_category):
                yield waveforms.read(name), stead.CATEGORY_CLASS[category]


def pipeline_rates(pairs: list[stead.SteadPair], records_dir: str, batch_size: int) -> dict[str, float]:
    """Examples/s: raw record bytes, the input pipeline, and from_generator over h5py."""
    source = data.Records(records_dir)
    files = source.files("train")
    batches = source.count("train", "classification", "source_magnitude") // batch_size  # one pass
    raw = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type=source.compression),
        cycle_length=8, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False,
    ).repeat().batch(batch_size).map(lambda s: (s,)).prefetch(tf.data.AUTOTUNE)  # fmt: skip
    pipeline, _ = data.split_dataset(source, "train", data.InputConfig(batch_size=batch_size), training=True)
    generator = tf.data.Dataset.from_generator(
        lambda: _h5py_generator(pairs),
        output_signature=(tf.TensorSpec(stead.WAVEFORM_SHAPE, tf.float32), tf.TensorSpec([], tf.int64)),
    ).repeat().batch(batch_size).prefetch(tf.data.AUTOTUNE)  # fmt: skip
    _examples_per_second(raw, batches, passes=1)  # page cache warm for every reader
    return {
        "raw": _examples_per_second(raw, batches),
        "pipeline": _examples_per_second(pipeline, batches),
        "generator": _examples_per_second(generator, batches),
    }


class _EpochSeconds(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def training_rates(records_dir: str, task: str, jit_compile: bool, batch_size: int, steps: int) -> tuple[float, float]:
    """(fed by the pipeline, fed from memory) training examples/s of one CNN, the second epoch timed."""
    config = trainer.TrainConfig(records=records_dir, task=task, batch_size=batch_size, jit_compile=jit_compile)
    source = data.Records(records_dir)
    pipeline, _ = data.split_dataset(source, "train", config.input_config(1), training=True)
    memory = tf.data.Dataset.from_tensors(next(iter(pipeline))).repeat()  # one batch, no input cost
    rates = []
    for ds in (pipeline, memory):
        model = models.build_model(config.model_config)
        trainer.compile_model(model, config)
        timer = _EpochSeconds()
        model.fit(ds, epochs=2, steps_per_epoch=steps, callbacks=[timer], verbose=0)
        rates.append(steps * batch_size / timer.seconds)
    return rates[0], rates[1]


def run_pipeline(workdir: str, traces: int, batch_size: int, steps: int) -> list[Row]:
    """Input pipeline and training figures on generated STEAD of `traces` traces."""
    stead_dir, records_dir = os.path.join(workdir, f"stead-{traces}"), os.path.join(workdir, "records")
    if not os.path.exists(os.path.join(stead_dir, "chunk2.csv")):
        synthetic.write_synthetic_stead(stead_dir, traces // 2, traces - traces // 2, seed=0)
    pairs = stead.find_pairs(stead_dir)
    fileio.rmtree(records_dir)
    convert.convert(convert.ConvertConfig(pairs=tuple(pairs), output_dir=records_dir), progress=False)
    rates = pipeline_rates(pairs, records_dir, batch_size)
    rows = [
        Row("raw record bytes, interleave 8", rates["raw"], "examples/s"),
        Row("input pipeline (parse, decode, labels)", rates["pipeline"], "examples/s", "raw record bytes",
            rates["pipeline"] / rates["raw"], ">= 0.5"),
        Row("from_generator over h5py", rates["generator"], "examples/s"),
        Row("input pipeline vs from_generator", rates["pipeline"] / rates["generator"], "x", "from_generator",
            rates["pipeline"] / rates["generator"], ">= 5"),
    ]  # fmt: skip
    for task in ("classification", "regression"):
        for jit in (False, True):
            fed, memory = training_rates(records_dir, task, jit, batch_size, steps)
            name = f"training {task}{', XLA' if jit else ''}"
            rows += [
                Row(f"{name}, from memory", memory, "examples/s"),
                Row(f"{name}, fed by the pipeline", fed, "examples/s", "from memory", fed / memory, ">= 0.95"),
            ]
    return rows


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| measurement | value | against | ratio | goal |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        goal = r.goal
        if goal and r.ratio is not None:
            operator, bound = goal.split()
            met = r.ratio >= float(bound) if operator == ">=" else r.ratio <= float(bound)
            goal += " (met)" if met else " (missed)"
        lines.append(f"| {r.name} | {r.value:,.1f} {r.unit} | {r.baseline} | {ratio} | {goal} |")
    return "\n".join(lines)


def main(argv):
    """Runs the benchmarks and writes bench.json."""
    del argv
    os.makedirs(FLAGS.workdir, exist_ok=True)
    traces, small = (4000, 1000) if FLAGS.quick else (20000, 2000)
    rows = []
    if "conversion" in FLAGS.parts:
        rows += run_conversion(FLAGS.workdir, traces, small, FLAGS.workers or os.cpu_count() or 1)
    if "pipeline" in FLAGS.parts:
        rows += run_pipeline(FLAGS.workdir, small * 2, batch_size=32, steps=10 if FLAGS.quick else 100)
    table = markdown(rows)
    fileio.write_atomic(
        os.path.join(FLAGS.workdir, "bench.json"),
        json.dumps({"machine": os.uname().nodename, "cores": os.cpu_count(), "rows": [dataclasses.asdict(r) for r in rows]},
                   indent=2),
    )  # fmt: skip
    print(table)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    flags.DEFINE_string("workdir", "/tmp/techtonics-bench", "Where generated data and results go.")
    flags.DEFINE_bool("quick", False, "Small sizes, for a quick check.")
    flags.DEFINE_integer("workers", None, "Processes (default: all cores).", lower_bound=1)
    flags.DEFINE_multi_enum("parts", ["conversion", "pipeline"], ["conversion", "pipeline"], "What to measure.")
    app.run(main)
