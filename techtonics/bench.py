"""One benchmark command: every measurement beside its bound or baseline, measured in the same run.

    python -m techtonics.bench --workdir=/tmp/techtonics-bench            # about 10 minutes on 2 cores
    python -m techtonics.bench --workdir=/tmp/techtonics-bench --quick    # under 2 minutes
    python -m techtonics.bench --parts=scale                              # the full-size run (bench_scale.py)

Conversion: converter traces/s against reading the same traces with h5py
alone on the same warm worker processes, 1 against all writer processes, the
end-to-end rate of a whole run, and the peak RSS of any one process of a
conversion at two sizes (at one shard size: a writer holds one shard), and
with --seisbench_python SeisBench's own STEAD conversion of the same files.
Mixing: the earthquake share of every window of 1,024 training examples
against a perfect shuffle. Input pipeline: examples/s against reading the
raw record bytes, regression against classification, against
tf.data.Dataset.from_generator over h5py, and against the original's way
(png_baseline.py): preparation (conversion against rendering PNG
spectrograms, same processes) and per-epoch input (the pipeline against
reading the PNGs back with the same parallel reads); plus a profile
of the pipeline's stages with the TensorFlow profiler. Training: examples/s
of each CNN fed by the pipeline against the same model fed one batch from
memory, with and without XLA. Results: WORKDIR/bench.json, bench.md (the
Markdown table and the profile) and bench.png (every ratio against its goal).
`--parts` picks some of conversion, mixing, pipeline, training, scale.
"""

import collections
import dataclasses
import json
import os
import re
import resource
import time

import tensorflow as tf
import tf_keras
from absl import app, flags
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from techtonics import (
    bench_conversion,
    bench_scale,
    convert,
    data,
    figures,
    fileio,
    mixing,
    models,
    png_baseline,
    records,
    stead,
    synthetic,
    trainer,
)

FLAGS = flags.FLAGS


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


# A writer holds one shard of waveforms, so its memory follows --shard_mb, not the number of traces;
# the memory figure compares two sizes at one small shard size that both fill.
_MEMORY_SHARD_MB = 3


def _generated_stead(workdir: str, traces: int) -> str:
    """A synthetic STEAD of `traces` traces in the original subset's class ratio, one merged pair
    (the only layout SeisBench converts), generated once."""
    directory = os.path.join(workdir, f"stead-{traces}")
    noise = round(traces * bench_scale.NOISE_SHARE)
    synthetic.write_synthetic_stead(directory, traces - noise, noise, seed=0, merged=True, resume=True)
    return directory


def run_conversion(workdir: str, traces: int, small: int, workers: int, seisbench_python: str) -> list[Row]:
    """Conversion figures on generated STEAD of `traces` (and `small`) traces."""
    big_dir, small_dir = _generated_stead(workdir, traces), _generated_stead(workdir, small)
    pairs = stead.find_pairs(big_dir)
    out = os.path.join(workdir, "records")
    read, converted = bench_conversion.steady_rates(pairs, out, workers)
    read_1, converted_1 = bench_conversion.steady_rates(pairs, out, 1)
    big = bench_conversion.end_to_end(big_dir, out, workers)
    small_memory, big_memory = (
        bench_conversion.end_to_end(d, out, workers, f"--shard_mb={_MEMORY_SHARD_MB}") for d in (small_dir, big_dir)
    )
    rows = [
        Row("conversion.h5py_read", f"h5py read (group[name][()]), {workers} processes", read, "traces/s"),
        Row("conversion.rate", f"conversion, {workers} processes", converted, "traces/s", "h5py read",
            converted / read, ">= 0.8"),
        Row("conversion.h5py_read_1", "h5py read, 1 process", read_1, "traces/s"),
        Row("conversion.rate_1", "conversion, 1 process", converted_1, "traces/s", "h5py read", converted_1 / read_1),
        Row("conversion.scaling", f"conversion, {workers} vs 1 processes", converted / converted_1, "x", "1 process",
            converted / converted_1, ">= 1.6"),
        Row("conversion.end_to_end", f"end to end, command line, {workers} processes (start-up included)",
            big["rate"], "traces/s"),
        Row("conversion.rss", f"peak RSS of any process, {traces:,} traces, default shards", big["rss_mb"], "MB"),
        Row("conversion.rss_small", f"peak RSS of any process, {small:,} traces, {_MEMORY_SHARD_MB} MB shards",
            small_memory["rss_mb"], "MB"),
        Row("conversion.rss_big", f"peak RSS of any process, {traces:,} traces, {_MEMORY_SHARD_MB} MB shards",
            big_memory["rss_mb"], "MB", f"{small:,} traces", big_memory["rss_mb"] / small_memory["rss_mb"], "<= 1.1"),
    ]  # fmt: skip
    if seisbench_python:
        peer = bench_conversion.seisbench_rate(seisbench_python, big_dir, os.path.join(workdir, "seisbench-cache"))
        rows += [
            Row("conversion.seisbench", "SeisBench's STEAD conversion, end to end, 1 process", peer, "traces/s"),
            Row("conversion.vs_seisbench", "end to end vs SeisBench's conversion", big["rate"] / peer, "x",
                "SeisBench", big["rate"] / peer, ">= 3"),
        ]  # fmt: skip
    return rows


def run_mixing(workdir: str, traces: int, shuffle_buffer: int, window: int, batch_size: int = 64) -> list[Row]:
    """Class mixing of one training epoch with default input settings and shards twice the shuffle buffer."""
    records_dir = os.path.join(workdir, f"records-{traces}-mixing")
    if not fileio.exists(fileio.join(records_dir, records.MANIFEST_NAME)):
        shard_mb = 2 * shuffle_buffer * convert.record_bytes("float32") / 2**20
        pairs = tuple(stead.find_pairs(_generated_stead(workdir, traces)))
        config = convert.ConvertConfig(pairs=pairs, output_dir=records_dir, shard_mb=shard_mb, min_shards=1)
        convert.convert(config, progress=False)
    config = data.InputConfig(batch_size=batch_size, shuffle_buffer=shuffle_buffer)
    stats = mixing.class_mixing(mixing.epoch_labels(data.Records(records_dir), config), window, batch_size)
    window = f"{stats['windows']} windows of {window:,}"
    return [
        Row("mixing.std_ratio", f"earthquake share of {window}: std vs binomial ideal ({stats['ideal_std']:.3f})",
            stats["window_std"], "", "ideal shuffle", stats["std_ratio"], "<= 1.3"),
        Row("mixing.window_range", f"earthquake share of {window}: lowest to highest",
            stats["window_max"] - stats["window_min"], "", f"{stats['window_min']:.3f} to {stats['window_max']:.3f}"),
        Row("mixing.batch_min", f"lowest earthquake share of a batch of {batch_size}", stats["batch_min"], "",
            "", stats["batch_min"], ">= 0.3"),
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


def pipeline_rate(records_dir: str, batch_size: int, task: str = "classification") -> float:
    """Steady records/s that the training input pipeline reads from converted records.

    For regression, which keeps only earthquakes with the target, that is
    its examples/s times the records read per example kept.
    """
    source = data.Records(records_dir)
    config = data.InputConfig(task=task, batch_size=batch_size)
    pipeline, steps = data.split_dataset(source, "train", config, training=True)
    records_per_example = source.count("train", "classification", config.target) / source.count("train", task, config.target)
    return _examples_per_second(pipeline, steps) * records_per_example


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
    _, converted = bench_conversion.steady_rates(pairs, os.path.join(workdir, "records"), workers)
    records_dir = _converted_records(workdir, traces)
    rates = pipeline_rates(pairs, records_dir, batch_size)
    regression = pipeline_rate(records_dir, batch_size, "regression")
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
        Row("pipeline.regression", "input pipeline, regression (records read/s; keeps earthquakes)", regression,
            "examples/s", "classification", regression / rates["pipeline"], ">= 0.9"),
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
        value = f"{r.value:,.1f}" if abs(r.value) >= 10 else f"{r.value:.3f}"
        lines.append(f"| {r.name} | {f'{value} {r.unit}'.strip()} | {r.baseline} | {ratio} | {goal} |")
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


def write_report(workdir: str, rows: list[Row], profile: list[dict], info: dict, scale: list[dict]) -> None:
    """bench.json, bench.md (the tables and the profile) and bench.png (ratios against goals)."""
    rows_json = [{**dataclasses.asdict(r), "met": r.met} for r in rows]
    report = {"machine": info, "rows": rows_json, "profile": profile, "scale": scale}
    fileio.write_atomic(fileio.join(workdir, "bench.json"), json.dumps(report, indent=2) + "\n")
    lines = [f"Measured on {info['host']}: {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
             f"GPUs: {', '.join(info['gpus']) or 'none'}; TensorFlow {info['tensorflow']}; {info['date']}.", "",
             markdown(rows)]  # fmt: skip
    if profile:
        lines += ["", "| input pipeline stage (TensorFlow profiler) | depth | time | seconds | share of wall time |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| {p['stage']} | {p['depth']} | {p['kind']} | {p['seconds']:.3f} | {p['share_of_wall']:.2f} |"
                  for p in profile]  # fmt: skip
    if scale:
        lines += ["", bench_scale.markdown(scale, scale[0]["traces"] or 0, bench_scale.BASELINE_TRACES)]
    fileio.write_atomic(fileio.join(workdir, "bench.md"), "\n".join(lines) + "\n")
    figures.benchmark_chart([r for r in rows if r.goal], workdir)


PARTS = ("conversion", "mixing", "pipeline", "training", "scale")
DEFAULT_PARTS = ("conversion", "mixing", "pipeline", "training")  # scale takes about an hour and 45 GB


# Fast enough that the full-size rehearsal is not mostly waiting for its data.
GENERATOR_GOAL = 1000


def run_scale(workdir: str, traces: int, workers: int) -> tuple[list[Row], list[dict]]:
    """The full-size run and the same at 20,000 traces: (rows with goals, every stage's figures).

    main() checks the disk (bench_scale.check_disk) before any part runs.
    """
    sizes = [bench_scale.BASELINE_TRACES, traces]
    baseline, full = (bench_scale.run_size(workdir, n, workers) for n in sizes)
    stages = bench_scale.compare(full, baseline)
    rows = []
    for stage in stages:
        key = "scale." + re.sub(r"\W+", "_", stage["stage"]).strip("_")
        if "per_trace_ratio" in stage:
            rows.append(Row(f"{key}.rate", f"{stage['stage']}, {traces:,} traces", stage["rate"], "traces/s",
                            f"per trace vs {sizes[0]:,}", stage["per_trace_ratio"], "<= 1.15"))
        if "rss_ratio" in stage:
            rows.append(Row(f"{key}.rss", f"{stage['stage']}, peak RSS", stage["rss_mb"], "MB",
                            f"vs {sizes[0]:,} traces", stage["rss_ratio"], "<= 1.2"))
        if stage["stage"] == "generate":
            rows.append(Row("scale.generate.goal", f"synthetic STEAD, {workers} processes", stage["rate"], "traces/s",
                            f"{GENERATOR_GOAL:,} traces/s", stage["rate"] / GENERATOR_GOAL, ">= 1"))
    return rows, stages


def main(argv):
    """Runs the benchmarks and writes bench.json, bench.md and bench.png into --workdir."""
    del argv
    os.makedirs(FLAGS.workdir, exist_ok=True)
    workers = FLAGS.workers or os.cpu_count() or 1
    quick = FLAGS.quick
    traces, small = (2000, 500) if quick else (20000, 2000)
    pipeline_traces, batch_size = (1000 if quick else 4000), 32
    rows, profile, scale = [], [], []
    try:
        if "scale" in FLAGS.parts:
            bench_scale.check_disk(FLAGS.workdir, [bench_scale.BASELINE_TRACES, FLAGS.scale_traces])
        if "conversion" in FLAGS.parts:
            rows += run_conversion(FLAGS.workdir, traces, small, workers, FLAGS.seisbench_python)
        if "mixing" in FLAGS.parts:
            # Quick: 1,600 training examples, so a buffer of 256 keeps shards twice as large as the buffer.
            buffer = 256 if quick else data.InputConfig().shuffle_buffer
            rows += run_mixing(FLAGS.workdir, traces, buffer, window=128 if quick else 1024)
        if "pipeline" in FLAGS.parts:
            rows += run_pipeline(FLAGS.workdir, pipeline_traces, batch_size, workers, png_traces=100 if quick else 1000)
            records_dir = _records_dir(FLAGS.workdir, pipeline_traces)
            profile = profile_pipeline(records_dir, batch_size, 20 if quick else 100, os.path.join(FLAGS.workdir, "profile"))
        if "training" in FLAGS.parts:
            rows += run_training(FLAGS.workdir, pipeline_traces, batch_size, steps=3 if quick else 100)
        if "scale" in FLAGS.parts:
            scale_rows, scale = run_scale(FLAGS.workdir, FLAGS.scale_traces, workers)
            rows += scale_rows
    except bench_scale.ScaleError as e:
        raise SystemExit(f"error: {e}") from None
    write_report(FLAGS.workdir, rows, profile, machine(), scale)
    print(markdown(rows))
    if scale:
        print(bench_scale.markdown(scale, FLAGS.scale_traces, bench_scale.BASELINE_TRACES))
    print(f"results: {FLAGS.workdir}/bench.json, bench.md, bench.png")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    flags.DEFINE_string("workdir", "/tmp/techtonics-bench", "Where generated data and results go.")
    flags.DEFINE_bool("quick", False, "Small sizes, for a quick check.")
    flags.DEFINE_integer("workers", None, "Processes (default: all cores).", lower_bound=1)
    flags.DEFINE_multi_enum("parts", list(DEFAULT_PARTS), PARTS, "What to measure.")
    flags.DEFINE_integer("scale_traces", 267822, "Traces of the full-size run (--parts=scale).", lower_bound=20001)
    flags.DEFINE_string("seisbench_python", "", "An interpreter with SeisBench installed: compare its STEAD conversion.")
    flags.register_validator(
        "seisbench_python",
        lambda path: not path or bench_conversion.has_seisbench(path),
        message="needs a Python interpreter that can import seisbench (see techtonics/seisbench_peer.py)",
    )
    app.run(main)
