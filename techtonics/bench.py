"""One benchmark command: every measurement beside its bound or baseline, measured in the same run.

    python -m techtonics.bench --workdir=/tmp/techtonics-bench            # about 8 minutes on 2 cores
    python -m techtonics.bench --workdir=/tmp/techtonics-bench --quick    # under 2 minutes

Conversion: converter traces/s against reading the same traces with h5py
alone on the same warm worker processes, 1 against all writer processes, the
end-to-end rate of a whole run, and the peak RSS of any one process of a
conversion at two sizes. Input pipeline: examples/s against reading the raw
record bytes, against tf.data.Dataset.from_generator over h5py, and against
the original's way (png_baseline.py): preparation (conversion against
rendering PNG spectrograms, same processes) and per-epoch input (the pipeline
against reading the PNGs back with the same parallel reads); plus a profile
of the pipeline's stages with the TensorFlow profiler. Training: examples/s
of each CNN fed by the pipeline against the same model fed one batch from
memory, with and without XLA. Results: WORKDIR/bench.json, bench.md (the
Markdown table and the profile) and bench.png (every ratio against its goal).
`--parts` picks some of conversion, pipeline, training.
"""

import collections
import dataclasses
import json
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import time

import tensorflow as tf
import tf_keras
from absl import app, flags
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from techtonics import convert, data, figures, fileio, models, png_baseline, stead, synthetic, trainer

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
    """One line of the results table; `key` names the figure in bench.json."""

    key: str
    name: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None
    goal: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the ratio meets the goal (">= 0.8", "<= 1.1"); None without one."""
        if not self.goal or self.ratio is None:
            return None
        operator, bound = self.goal.split()
        return self.ratio >= float(bound) if operator == ">=" else self.ratio <= float(bound)


def _generated_stead(workdir: str, traces: int) -> str:
    """A synthetic STEAD of `traces` traces (half earthquakes) in the workdir, generated once."""
    directory = os.path.join(workdir, f"stead-{traces}")
    if not os.path.exists(os.path.join(directory, "chunk2.csv")):
        synthetic.write_synthetic_stead(directory, traces // 2, traces - traces // 2, seed=0)
    return directory


def run_conversion(workdir: str, traces: int, small: int, workers: int) -> list[Row]:
    """Conversion figures on generated STEAD of `traces` (and `small`) traces."""
    big_dir, small_dir = _generated_stead(workdir, traces), _generated_stead(workdir, small)
    pairs = stead.find_pairs(big_dir)
    out = os.path.join(workdir, "records")
    read, converted = steady_rates(pairs, out, workers)
    read_1, converted_1 = steady_rates(pairs, out, 1)
    end_to_end = end_to_end_rate(pairs, out, workers)
    rss_big = conversion_peak_rss_mb(big_dir, out, workers)
    rss_small = conversion_peak_rss_mb(small_dir, out, workers)
    return [
        Row("conversion.h5py_read", f"h5py read, {workers} processes", read, "traces/s"),
        Row("conversion.rate", f"conversion, {workers} processes", converted, "traces/s", "h5py read",
            converted / read, ">= 0.8"),
        Row("conversion.h5py_read_1", "h5py read, 1 process", read_1, "traces/s"),
        Row("conversion.rate_1", "conversion, 1 process", converted_1, "traces/s", "h5py read", converted_1 / read_1),
        Row("conversion.scaling", f"conversion, {workers} vs 1 processes", converted / converted_1, "x", "1 process",
            converted / converted_1, ">= 1.6"),
        Row("conversion.end_to_end", f"end to end, {workers} processes (start-up included)", end_to_end, "traces/s"),
        Row("conversion.rss_small", f"peak RSS, {small:,} traces", rss_small, "MB"),
        Row("conversion.rss_big", f"peak RSS, {traces:,} traces", rss_big, "MB", f"{small:,} traces",
            rss_big / rss_small, "<= 1.1"),
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
    generator = tf.data.Dataset.from_generator(
        lambda: _h5py_generator(pairs),
        output_signature=(tf.TensorSpec(stead.WAVEFORM_SHAPE, tf.float32), tf.TensorSpec([], tf.int64)),
    ).repeat().batch(batch_size).prefetch(tf.data.AUTOTUNE)  # fmt: skip
    _examples_per_second(raw, batches, passes=1)  # page cache warm for every reader
    return {
        "raw": _examples_per_second(raw, batches),
        "pipeline": pipeline_rate(records_dir, batch_size),
        "generator": _examples_per_second(generator, batches),
    }


def pipeline_rate(records_dir: str, batch_size: int) -> float:
    """Steady examples/s of the training input pipeline over converted records."""
    source = data.Records(records_dir)
    pipeline, steps = data.split_dataset(source, "train", data.InputConfig(batch_size=batch_size), training=True)
    return _examples_per_second(pipeline, steps)


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


def _records_dir(workdir: str, traces: int, encoding: str = "float32") -> str:
    return os.path.join(workdir, f"records-{traces}" + ("" if encoding == "float32" else f"-{encoding}"))


def _converted_records(workdir: str, traces: int, encoding: str = "float32") -> str:
    """The records of _generated_stead(workdir, traces), converted unless their manifest is there."""
    records_dir = _records_dir(workdir, traces, encoding)
    if not fileio.exists(fileio.join(records_dir, "manifest.json")):
        pairs = tuple(stead.find_pairs(_generated_stead(workdir, traces)))
        convert.convert(convert.ConvertConfig(pairs=pairs, output_dir=records_dir, encoding=encoding), progress=False)
    return records_dir


def run_pipeline(workdir: str, traces: int, batch_size: int, workers: int, png_traces: int) -> list[Row]:
    """Input figures on generated STEAD: the pipeline against raw bytes, from_generator and PNG files."""
    pairs = stead.find_pairs(_generated_stead(workdir, traces))
    _, converted = steady_rates(pairs, _records_dir(workdir, traces), workers)  # leaves shards, no manifest
    records_dir = _converted_records(workdir, traces)
    rates = pipeline_rates(pairs, records_dir, batch_size)
    # The profile shows the pipeline bound by reading record bytes: half the bytes per example.
    int16_dir = _converted_records(workdir, traces, "int16")
    pipeline_rate(int16_dir, batch_size)  # page cache warm
    int16 = pipeline_rate(int16_dir, batch_size)
    png_dir = os.path.join(workdir, f"png-{traces}")
    fileio.rmtree(png_dir)
    rendered, paths, labels = png_baseline.render_rate(pairs, png_dir, png_traces, workers)
    parallel_reads = data.InputConfig().parallel_reads
    png_read = _examples_per_second(
        png_baseline.read_dataset(paths, labels, batch_size, parallel_reads), len(paths) // batch_size
    )
    return [
        Row("pipeline.raw", "raw record bytes, interleave 8", rates["raw"], "examples/s"),
        Row("pipeline.rate", "input pipeline (shuffle, parse, decode, labels)", rates["pipeline"], "examples/s",
            "raw record bytes", rates["pipeline"] / rates["raw"], ">= 0.5"),
        Row("pipeline.int16", "input pipeline, int16 records (--encoding=int16)", int16, "examples/s",
            "float32 records", int16 / rates["pipeline"]),
        Row("pipeline.generator", "from_generator over h5py", rates["generator"], "examples/s"),
        Row("pipeline.vs_generator", "input pipeline vs from_generator", rates["pipeline"] / rates["generator"], "x",
            "from_generator", rates["pipeline"] / rates["generator"], ">= 5"),
        Row("png.render", f"original: render PNG spectrograms, {workers} processes", rendered, "traces/s"),
        Row("png.preparation", f"preparation: conversion vs PNG rendering, {workers} processes",
            converted / rendered, "x", "PNG rendering", converted / rendered, ">= 20"),
        Row("png.read", f"original: read PNGs back, {parallel_reads} parallel reads", png_read, "examples/s"),
        Row("png.per_epoch", "per-epoch input: pipeline vs reading PNGs", rates["pipeline"] / png_read, "x",
            "reading PNGs", rates["pipeline"] / png_read, ">= 1"),
    ]  # fmt: skip


def run_training(workdir: str, traces: int, batch_size: int, steps: int) -> list[Row]:
    """Both CNNs with and without XLA, fed by the pipeline against fed from memory."""
    records_dir = _converted_records(workdir, traces)
    rows = []
    for task in models.TASKS:
        for jit in (False, True):
            fed, memory = training_rates(records_dir, task, jit, batch_size, steps)
            key, name = f"training.{task}{'.xla' if jit else ''}", f"training {task}{', XLA' if jit else ''}"
            rows += [
                Row(f"{key}.memory", f"{name}, from memory", memory, "examples/s"),
                Row(f"{key}.fed", f"{name}, fed by the pipeline", fed, "examples/s", "from memory", fed / memory,
                    ">= 0.95"),
            ]  # fmt: skip
    return rows


def profile_pipeline(records_dir: str, batch_size: int, batches: int, logdir: str) -> list[dict]:
    """The input pipeline's stages under the TensorFlow profiler, for `batches` steady batches.

    Per stage: seconds inside its GetNext (what its consumer waited, children
    included) and, for parallel stages, seconds its worker threads were busy
    producing, each summed over threads and divided by the wall time, so a
    share above 1 means several threads. The trace stays in logdir for
    TensorBoard's profile plugin.
    """
    pipeline, _ = data.split_dataset(data.Records(records_dir), "train", data.InputConfig(batch_size=batch_size), True)
    iterator = iter(pipeline)
    for _ in range(batches):
        next(iterator)
    fileio.rmtree(logdir)
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with fileio.open_file(sorted(tf.io.gfile.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1], "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name.startswith("Iterator::") or name.endswith("Produce"):  # a stage's [0], [1], ... together
                    seconds[re.sub(r"\[\d+\]", "", name)] += event.duration_ps / 1e12
    return [
        {"stage": name.rsplit("::", 1)[-1], "depth": name.count("::"), "kind": "produce" if name.endswith("Produce")
         else "get_next", "seconds": t, "share_of_wall": t / wall}
        for name, t in sorted(seconds.items(), key=lambda item: (item[0].endswith("Produce"), len(item[0])))
    ]  # fmt: skip


def markdown(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| measurement | value | against | ratio | goal |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        goal = r.goal + {True: " (met)", False: " (missed)", None: ""}[r.met]
        lines.append(f"| {r.name} | {r.value:,.1f} {r.unit} | {r.baseline} | {ratio} | {goal} |")
    return "\n".join(lines)


def machine() -> dict:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    return {
        "host": os.uname().nodename,
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_report(workdir: str, rows: list[Row], profile: list[dict], info: dict) -> None:
    """bench.json, bench.md (the table and the profile) and bench.png (ratios against goals)."""
    report = {"machine": info, "rows": [{**dataclasses.asdict(r), "met": r.met} for r in rows], "profile": profile}
    fileio.write_atomic(fileio.join(workdir, "bench.json"), json.dumps(report, indent=2) + "\n")
    lines = [f"Measured on {info['host']}: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
             f"GPUs: {', '.join(info['gpus']) or 'none'}; TensorFlow {info['tensorflow']}; {info['date']}.", "",
             markdown(rows)]  # fmt: skip
    if profile:
        lines += ["", "| input pipeline stage (TensorFlow profiler) | depth | time | seconds | share of wall time |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| {p['stage']} | {p['depth']} | {p['kind']} | {p['seconds']:.3f} | {p['share_of_wall']:.2f} |"
                  for p in profile]  # fmt: skip
    fileio.write_atomic(fileio.join(workdir, "bench.md"), "\n".join(lines) + "\n")
    figures.benchmark_chart([r for r in rows if r.goal], workdir)


PARTS = ("conversion", "pipeline", "training")


def main(argv):
    """Runs the benchmarks and writes bench.json, bench.md and bench.png into --workdir."""
    del argv
    os.makedirs(FLAGS.workdir, exist_ok=True)
    workers = FLAGS.workers or os.cpu_count() or 1
    quick = FLAGS.quick
    traces, small = (2000, 500) if quick else (20000, 2000)
    pipeline_traces, batch_size = (1000 if quick else 4000), 32
    rows, profile = [], []
    if "conversion" in FLAGS.parts:
        rows += run_conversion(FLAGS.workdir, traces, small, workers)
    if "pipeline" in FLAGS.parts:
        rows += run_pipeline(FLAGS.workdir, pipeline_traces, batch_size, workers, png_traces=100 if quick else 1000)
        records_dir = _records_dir(FLAGS.workdir, pipeline_traces)
        profile = profile_pipeline(records_dir, batch_size, 20 if quick else 100, os.path.join(FLAGS.workdir, "profile"))
    if "training" in FLAGS.parts:
        rows += run_training(FLAGS.workdir, pipeline_traces, batch_size, steps=3 if quick else 100)
    write_report(FLAGS.workdir, rows, profile, machine())
    print(markdown(rows))
    print(f"results: {FLAGS.workdir}/bench.json, bench.md, bench.png")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    flags.DEFINE_string("workdir", "/tmp/techtonics-bench", "Where generated data and results go.")
    flags.DEFINE_bool("quick", False, "Small sizes, for a quick check.")
    flags.DEFINE_integer("workers", None, "Processes (default: all cores).", lower_bound=1)
    flags.DEFINE_multi_enum("parts", list(PARTS), PARTS, "What to measure.")
    app.run(main)
