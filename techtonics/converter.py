"""STEAD -> sharded TFRecords: select, split, shard, write in parallel, resume, verify.

The run, in order:
1. read every CSV (the columns records need; waveforms stay in HDF5) and
   check each CSV/HDF5 pair belongs together;
2. select a per-class random subset and assign splits (techtonics.splits);
3. plan shards: each split's traces are shuffled and dealt into shards, and
   each shard keeps that seeded random order, so every stretch of a shard
   mixes classes, chunks, events and stations (STEAD's files hold all noise
   first; shards in file order made training see noise-only stretches);
4. worker processes (no TensorFlow: records.RecordWriter) read each shard's
   traces from HDF5 in file order into a buffer of one shard, write them in
   the shard's order under a temporary name, hashing as they write, rename
   the file when complete, then record count and sha256 in
   `_progress/<shard>.json`;
5. `manifest.json` is written last, atomically.
A re-run with the same arguments skips shards whose file still matches its
recorded sha256, so a killed run resumes and ends byte-identical to an
uninterrupted one. Nothing in a shard depends on timing or worker count.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import time

import numpy as np
import pandas as pd

from techtonics import fileio, options, records, splits, stead
from techtonics import workers as workers_module
from techtonics.errors import UserError
from techtonics.options import option

PROGRESS_DIR = "_progress"
ON_BAD_TRACE = ("skip", "fail")
_RECORD_OVERHEAD_BYTES = 400  # labels, names and framing beyond the waveform
_SAMPLE_FOR_PAIRING = 50


class ConversionError(UserError):
    """A conversion cannot go on; the message is one line naming what is wrong."""


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Everything that decides what the converter writes (plus num_workers, which does not)."""

    pairs: tuple[stead.SteadPair, ...]
    output_dir: str
    noise_traces: int | None = option(None, "Random subset size of noise traces; default all.", minimum=0)
    earthquake_traces: int | None = option(None, "Random subset size of earthquakes; default all.", minimum=0)
    split: splits.SplitConfig = options.nested(splits.SplitConfig)
    test_trace_list: str | None = option(None, "File of trace names (one a line) that form the test split.")
    encoding: str = option("float32", "Waveform encoding; int16 halves the size.", choices=records.ENCODINGS)
    compression: str = option("NONE", "TFRecord compression.", choices=records.COMPRESSIONS)
    shard_mb: float = option(150.0, "Target shard size in MB.")
    min_shards: int = option(8, "Fewest shards per split (more shards, more parallel readers).", minimum=1)
    on_bad_trace: str = option("skip", "Skip (and count) or fail on a bad trace.", choices=ON_BAD_TRACE)
    num_workers: int | None = option(None, "Writer processes (default: all cores).", minimum=1)

    def __post_init__(self):
        options.check(self)
        if not self.pairs:
            raise ConversionError("no input: give a STEAD directory or CSV/HDF5 pairs")
        if self.shard_mb <= 0:
            raise ConversionError(f"--shard_mb={self.shard_mb}: must be positive")

    def arguments(self) -> dict:
        """The arguments that decide the output, as recorded in the manifest."""
        recorded = dataclasses.asdict(self)
        recorded.pop("num_workers")
        recorded["pairs"] = [dataclasses.asdict(p) for p in self.pairs]
        del recorded["split"]["test_traces"]  # the list file is recorded, not its contents
        return recorded


@dataclasses.dataclass
class Shard:
    """One planned output file and the traces it holds, in the order it holds them."""

    split: str
    file: str
    rows: np.ndarray  # row indices into the plan's metadata, in write order


@dataclasses.dataclass(frozen=True)
class ShardJob:
    """What a writer process needs for one shard: where, how, and its traces' metadata."""

    path: str
    hdf5: tuple[str, ...]  # per pair index
    traces: pd.DataFrame  # `pair`, `row` (file order) and records.COLUMNS, in write order
    encoding: str
    compression: str
    on_bad_trace: str


def shard_digest(job: ShardJob) -> str:
    """Identifies a shard's planned content (traces, their order and labels), so a stale file is redone."""
    traces = job.traces
    h = hashlib.sha256(f"{records.SCHEMA_VERSION}|{job.encoding}|{job.compression}|{list(job.hdf5)}".encode())
    h.update(traces.pair.to_numpy(np.int64).tobytes())
    for column in records.COLUMNS:
        values = traces[column]
        if column == stead.SNR_COLUMN:
            h.update(np.stack(values.to_numpy()).astype(np.float64).tobytes() if len(values) else b"")
        elif column in records.TARGETS:
            h.update(values.to_numpy(np.float64).tobytes())
        else:
            h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()


def load_metadata(pairs: tuple[stead.SteadPair, ...]) -> pd.DataFrame:
    """All pairs' metadata (records.COLUMNS) in one frame with a `pair` column; checks each pair matches."""
    frames = []
    for index, pair in enumerate(pairs):
        meta = stead.read_metadata(pair.csv, columns=records.COLUMNS)
        with stead.WaveformFile(pair.hdf5) as waveforms:
            sample = meta.trace_name.iloc[:: max(1, len(meta) // _SAMPLE_FOR_PAIRING)]
            if len(meta) and not any(name in waveforms for name in sample):
                raise ConversionError(
                    f"{pair.csv} and {pair.hdf5} do not belong together: none of {len(sample)} "
                    "sampled CSV traces is in the HDF5 file"
                )
        frames.append(meta.assign(pair=index))
    meta = pd.concat(frames, ignore_index=True)
    repeated = meta.trace_name.duplicated()
    if repeated.any():
        name = meta.trace_name[repeated.idxmax()]
        raise ConversionError(f"trace {name} appears in more than one input CSV")
    return meta


def record_bytes(encoding: str) -> int:
    """About how many bytes one trace takes in a shard."""
    return int(np.prod(stead.WAVEFORM_SHAPE)) * np.dtype(encoding).itemsize + _RECORD_OVERHEAD_BYTES


def _shard_count(traces: int, config: ConvertConfig) -> int:
    by_size = math.ceil(traces * record_bytes(config.encoding) / (config.shard_mb * 2**20))
    return max(1, min(traces, max(by_size, config.min_shards)))


def plan_shards(assignment: np.ndarray, config: ConvertConfig) -> list[Shard]:
    """Deals each split's traces into shards at random; each shard keeps its random order."""
    rng = np.random.default_rng([config.split.seed, 13])
    shards = []
    for split in splits.SPLITS:
        members = np.flatnonzero(assignment == split)
        if members.size == 0:
            continue
        count = _shard_count(members.size, config)
        for k, part in enumerate(np.array_split(rng.permutation(members), count)):
            shards.append(Shard(split, records.shard_name(split, k, count, config.compression), part))
    return shards


def shard_job(shard: Shard, meta: pd.DataFrame, config: ConvertConfig) -> ShardJob:
    """The writer's view of a planned shard: only its own traces' metadata."""
    traces = meta.iloc[shard.rows][["pair", *records.COLUMNS]].assign(row=shard.rows).reset_index(drop=True)
    return ShardJob(
        path=fileio.join(config.output_dir, shard.file),
        hdf5=tuple(p.hdf5 for p in config.pairs),
        traces=traces,
        encoding=config.encoding,
        compression=config.compression,
        on_bad_trace=config.on_bad_trace,
    )


_worker_state: dict = {}


def _init_worker(counter) -> None:
    """Sets up a writer process: the shared progress counter."""
    _worker_state.clear()
    _worker_state["counter"] = counter


def _count(done: int) -> None:
    counter = _worker_state.get("counter")
    if counter is not None:
        with counter.get_lock():
            counter.value += done


def read_waveforms(job: ShardJob) -> tuple[np.ndarray, list[list[str]]]:
    """The shard's waveforms in write order, read in file order; and the bad traces skipped.

    A buffer of one shard (about --shard_mb) lets reading follow the HDF5
    file while writing follows the shard's random order.
    """
    traces = job.traces
    # One buffer per process, reused: first-touching 150 MB of fresh memory per shard costs as much as
    # reading it.
    buffer = _worker_state.get("buffer")
    if buffer is None or len(buffer) < len(traces):
        buffer = _worker_state["buffer"] = np.empty(
            (len(traces), *stead.WAVEFORM_SHAPE), stead.WAVEFORM_DTYPE
        )
    waveforms = buffer[: len(traces)]
    skipped = []
    pair_of, name_of = traces.pair.to_numpy(), traces.trace_name.to_numpy()
    # Files are opened per shard: HDF5's metadata cache keeps the header of every trace read (about
    # 170 MB of memory per open file once full), and a conversion reads each trace once.
    with contextlib.ExitStack() as stack:
        files = {p: stack.enter_context(stead.WaveformFile(job.hdf5[p])) for p in np.unique(pair_of)}
        for n, i in enumerate(np.argsort(traces.row.to_numpy(), kind="stable")):
            try:
                files[pair_of[i]].read(name_of[i], out=waveforms[i])
            except stead.BadTraceError as e:
                if job.on_bad_trace == "fail":
                    raise
                skipped.append([name_of[i], e.reason])
            if n % 64 == 63:
                _count(64)
    _count(len(traces) % 64)
    return waveforms, skipped


def write_shard(job: ShardJob) -> dict:
    """Writes one shard (temporary name, then rename) and returns its count, sha256 and skips."""
    waveforms, skipped = read_waveforms(job)
    bad = {name for name, _ in skipped}
    tmp = fileio.temporary_path(job.path)
    worst_error, written = 0.0, 0
    try:
        with records.RecordWriter(tmp, job.compression) as writer:
            for i, meta in enumerate(job.traces.to_dict("records")):
                if meta["trace_name"] in bad:
                    continue
                example, error = records.example_parts(waveforms[i], meta, job.encoding)
                writer.write(example)
                written += 1
                worst_error = max(worst_error, error)
        fileio.rename(tmp, job.path)
    finally:
        fileio.remove(tmp)
    return {
        "file": job.path.rsplit("/", 1)[-1],
        "count": written,
        "sha256": writer.sha256,
        "skipped": skipped,
        "worst_relative_error": worst_error,
    }


def _write_and_record(args) -> dict:
    """A worker's task: write the shard, then its progress record (digest included)."""
    job, progress_path = args
    result = {**write_shard(job), "digest": shard_digest(job)}
    fileio.write_atomic(progress_path, json.dumps(result, sort_keys=True))
    return result


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with fileio.open_file(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def _progress_path(config: ConvertConfig, file: str) -> str:
    return fileio.join(config.output_dir, PROGRESS_DIR, file + ".json")


def _finished(shard: Shard, meta: pd.DataFrame, config: ConvertConfig) -> dict | None:
    """The shard's progress record if its file is complete and unchanged, else None."""
    progress = _progress_path(config, shard.file)
    path = fileio.join(config.output_dir, shard.file)
    if not (fileio.exists(progress) and fileio.exists(path)):
        return None
    with fileio.open_file(progress, "rb") as f:
        result = json.loads(f.read())
    if result.get("digest") != shard_digest(shard_job(shard, meta, config)) or _sha256(path) != result.get(
        "sha256"
    ):
        return None
    return result


def _remove_stale_temporaries(output_dir: str, shards: list[Shard]) -> None:
    """Removes half-written shards that a killed run left under temporary names."""
    prefixes = tuple(f"{s.file}.tmp-" for s in shards)
    for name in fileio.listdir(output_dir):
        if name.startswith(prefixes):
            fileio.remove(fileio.join(output_dir, name))


class _Progress:
    """A one-line progress report with traces/s and ETA, to stderr."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.start, self.shown = total, enabled, time.monotonic(), 0.0
        self.interactive = sys.stderr.isatty()

    def show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.shown < (0.5 if self.interactive else 10.0)):
            return
        self.shown = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if math.isfinite(eta) else "?"
        line = f"converted {done}/{self.total} traces ({rate:,.0f} traces/s, ETA {eta_text})"
        end = "\n" if final or not self.interactive else ""
        print(("\r" if self.interactive else "") + line, end=end, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _writers(workers: int):
    """(pool of writer processes, shared counter of the traces they have read)."""
    counter = multiprocessing.get_context("spawn").Value("q", 0)
    try:
        with workers_module.Pool(workers, _init_worker, (counter,)) as pool:
            yield pool, counter
    finally:
        _worker_state.clear()  # a single writer runs in this process: its shard buffer goes now


def timed_passes(config: ConvertConfig, functions: list) -> tuple[int, list[float]]:
    """The benchmark's hook: each function(ShardJob) over every planned shard on one pool of started writers.

    A first, untimed pass of functions[0] starts the processes and warms the
    page cache, so the timed passes compare the work per trace, not start-up.
    Before each timed pass the output directory is emptied and synced (ext4
    flushes files renamed over old ones). Returns (traces, seconds per pass).
    """
    planned = plan(config)
    jobs = [shard_job(shard, planned.meta, config) for shard in planned.shards]
    traces = sum(len(job.traces) for job in jobs)
    seconds = []
    with _writers(config.num_workers or os.cpu_count() or 1) as (pool, _):
        list(pool.imap(functions[0], jobs, ordered=False))
        for function in functions:
            fileio.rmtree(config.output_dir)
            fileio.makedirs(config.output_dir)
            os.sync()
            start = time.perf_counter()
            list(pool.imap(function, jobs, ordered=False))
            seconds.append(time.perf_counter() - start)
    return traces, seconds


def _target_stats(meta: pd.DataFrame) -> dict:
    stats = {}
    for name in records.TARGETS:
        values = meta[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        described = {"mean": values.mean, "std": values.std, "min": values.min, "max": values.max}
        stats[name] = {"count": int(values.size)}
        stats[name].update({k: float(f()) if values.size else None for k, f in described.items()})
    return stats


@dataclasses.dataclass
class Plan:
    """What a conversion writes: the selected metadata, their splits and the shards."""

    meta: pd.DataFrame
    assignment: np.ndarray  # split name per row of meta
    shards: list[Shard]
    skipped: list[list[str]]  # [trace, reason] found before reading waveforms


def plan(config: ConvertConfig) -> Plan:
    """Reads the metadata, drops unknown categories, selects, splits and plans shards."""
    meta = load_metadata(config.pairs)
    unknown = ~meta.trace_category.isin(list(stead.CATEGORY_CLASS))
    skipped = [[name, "unknown_category"] for name in meta.trace_name[unknown]]
    if skipped and config.on_bad_trace == "fail":
        row = meta[unknown].iloc[0]
        raise stead.BadTraceError(
            "unknown_category",
            f"{config.pairs[row.pair].csv}: trace {row.trace_name}: "
            f"unknown trace_category {row.trace_category!r}",
        )
    meta = meta[~unknown].reset_index(drop=True)
    split_config = config.split
    if config.test_trace_list:
        if not fileio.exists(config.test_trace_list):
            raise ConversionError(f"{config.test_trace_list}: no such test trace list")
        with fileio.open_file(config.test_trace_list, "rb") as f:
            listed = splits.read_trace_list(f.read().decode())
        split_config = dataclasses.replace(split_config, test_traces=listed)
    meta = meta.iloc[splits.select(meta, config.noise_traces, config.earthquake_traces, config.split.seed)]
    meta = meta.reset_index(drop=True)
    assignment = splits.assign(meta, split_config)
    return Plan(meta, assignment, plan_shards(assignment, config), skipped)


def _check_free_space(config: ConvertConfig, traces: int) -> None:
    """Refuses a local conversion that cannot fit, before writing anything."""
    if fileio.is_remote(config.output_dir) or config.compression != "NONE":
        return
    needed, free = traces * record_bytes(config.encoding), shutil.disk_usage(config.output_dir).free
    if needed > free:
        raise ConversionError(
            f"{config.output_dir}: {traces} traces need about {needed / 2**30:.1f} GiB, "
            f"{free / 2**30:.1f} GiB free"
        )


def convert(config: ConvertConfig, progress: bool = True) -> dict:
    """Converts STEAD to TFRecords (resuming a killed run) and returns the manifest."""
    started = time.monotonic()
    planned = plan(config)
    shards = planned.shards
    try:
        fileio.check_writable(fileio.join(config.output_dir, PROGRESS_DIR))
    except Exception as e:  # OSError locally, tf.errors.OpError for object stores
        raise ConversionError(f"{config.output_dir}: cannot create the output directory ({e})") from None

    _remove_stale_temporaries(config.output_dir, shards)
    finished, todo = {}, []
    for shard in shards:
        if (result := _finished(shard, planned.meta, config)) is not None:
            finished[shard.file] = result
        else:
            todo.append(shard)
    total = sum(len(shard.rows) for shard in todo)
    _check_free_space(config, total)
    reporter = _Progress(total, progress)
    if progress and finished:
        print(f"resuming: {len(finished)} of {len(shards)} shards already complete", file=sys.stderr)
    workers = max(1, min(config.num_workers or os.cpu_count() or 1, len(todo)))
    # Jobs are made as the queue takes them: one shard's metadata at a time, not a copy of all.
    tasks = ((shard_job(shard, planned.meta, config), _progress_path(config, shard.file)) for shard in todo)
    try:
        with _writers(workers) as (pool, counter):
            for result in pool.imap(
                _write_and_record, tasks, ordered=False, waiting=lambda: reporter.show(counter.value)
            ):
                finished[result["file"]] = result
        reporter.show(total, final=True)
        manifest = _manifest(config, planned, finished)
        fileio.write_atomic(
            fileio.join(config.output_dir, records.MANIFEST_NAME), records.manifest_json(manifest)
        )
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        left = sum(len(shard.rows) for shard in todo if shard.file not in finished)
        raise ConversionError(
            f"{config.output_dir}: no space left on the device ({left} traces, about "
            f"{left * record_bytes(config.encoding) / 2**30:.2f} GiB, still to write); "
            "free space and run the same command again to resume"
        ) from None
    if progress:
        print(summary(manifest, total, time.monotonic() - started), file=sys.stderr)
    return manifest


def _manifest(config: ConvertConfig, planned: Plan, finished: dict) -> dict:
    meta, assignment, shards = planned.meta, planned.assignment, planned.shards
    skipped = planned.skipped + [entry for s in shards for entry in finished[s.file]["skipped"]]
    kept = ~meta.trace_name.isin({name for name, _ in skipped}).to_numpy()
    written, split_of = meta[kept], assignment[kept]
    manifest_splits = {}
    for split in splits.SPLITS:
        files = [finished[s.file] for s in shards if s.split == split]
        if not files:
            continue
        in_split = written[split_of == split]
        is_earthquake = (in_split.trace_category == stead.EARTHQUAKE_CATEGORY).to_numpy()
        manifest_splits[split] = {
            "count": sum(f["count"] for f in files),
            "class_counts": {
                name: int((in_split.trace_category.map(stead.CATEGORY_CLASS) == i).sum())
                for i, name in enumerate(stead.CLASS_NAMES)
            },
            "target_counts": {
                name: int((is_earthquake & np.isfinite(in_split[name].to_numpy(np.float64))).sum())
                for name in records.TARGETS
            },
            "shards": [{k: f[k] for k in ("file", "count", "sha256")} for f in files],
        }
    return {
        "schema_version": records.SCHEMA_VERSION,
        "arguments": config.arguments(),
        "sources": [
            {"csv": p.csv, "csv_bytes": fileio.size(p.csv), "hdf5": p.hdf5, "hdf5_bytes": fileio.size(p.hdf5)}
            for p in config.pairs
        ],
        "waveform": {
            "shape": list(stead.WAVEFORM_SHAPE),
            "channels": list(stead.CHANNELS),
            "sampling_rate_hz": stead.SAMPLING_RATE_HZ,
            "encoding": config.encoding,
            "worst_relative_error": max(
                (finished[s.file]["worst_relative_error"] for s in shards), default=0.0
            ),
        },
        "compression": config.compression,
        "class_names": list(stead.CLASS_NAMES),
        "splits": manifest_splits,
        "skipped": dict(sorted(collections.Counter(reason for _, reason in skipped).items())),
        "skipped_traces": sorted(skipped),
        "target_stats": _target_stats(written[split_of == "train"]),
    }


def summary(manifest: dict, traces: int, seconds: float) -> str:
    """A few lines saying what was written, what was skipped and how fast."""
    lines = [f"wrote {traces} traces in {seconds:.1f} s ({traces / max(seconds, 1e-9):,.0f} traces/s)"]
    for split, info in manifest["splits"].items():
        classes = ", ".join(f"{n} {name}" for name, n in info["class_counts"].items())
        lines.append(f"  {split}: {info['count']} records ({classes}) in {len(info['shards'])} shards")
    if manifest["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"].items())
        lines.append(
            f"  skipped {sum(manifest['skipped'].values())} traces: {reasons} (listed in the manifest)"
        )
    if manifest["waveform"]["encoding"] != "float32":
        lines.append(
            f"  {manifest['waveform']['encoding']} encoding: worst error "
            f"{manifest['waveform']['worst_relative_error']:.2e} of a channel's peak"
        )
    return "\n".join(lines)


def verify(output_dir: str) -> list[str]:
    """Re-reads every shard against the manifest; returns the problems found (none: [])."""
    import tensorflow as tf

    manifest = records.read_manifest(output_dir)
    encoding = manifest["waveform"]["encoding"]
    compression = records.compression_type(manifest)
    problems = []
    for split, info in manifest["splits"].items():
        for shard in info["shards"]:
            path = fileio.join(output_dir, shard["file"])
            if not fileio.exists(path):
                problems.append(f"{path}: missing")
                continue
            if _sha256(path) != shard["sha256"]:
                problems.append(f"{path}: sha256 differs from the manifest")
            count = 0
            try:
                dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(256)
                for batch in dataset:
                    waveforms = records.parse_batch(batch, encoding)["waveform"]
                    finite = tf.reduce_all(tf.math.is_finite(waveforms), axis=[1, 2]).numpy()
                    if not finite.all():
                        problems.append(
                            f"{path}: record {count + int(np.argmin(finite))} has non-finite samples"
                        )
                    count += int(finite.size)
            except (tf.errors.OpError, ValueError) as e:
                problems.append(f"{path}: unreadable after {count} records ({str(e).splitlines()[0]})")
                continue
            if count != shard["count"]:
                problems.append(f"{path}: {count} records, the manifest says {shard['count']} ({split})")
    return problems
