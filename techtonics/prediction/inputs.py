"""What the prediction command reads: STEAD or SeisBench-format files, converted records, or continuous
recordings, as tf.data.

Each source gives batches of (waveform (n, 6000, 3) float32, identity), the
identity columns that name a row of predictions.csv, the number of rows to
expect (for the progress bar; None when unknown in advance) and the counts
of what it skipped, by reason. Reading runs ahead of prediction (parallel
calls and prefetch), in input order, and streams: memory follows a batch
(for continuous data, one station), not the size of the input.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import (
    recordings,
    records,
    seisbench,
    seisbench_metadata,
    seisbench_waveforms,
    splits,
    stead,
)
from techtonics.data.converted import ConvertedDataset
from techtonics.prediction import archive, continuous, sharding

WAVEFORM = tf.TensorSpec([None, *stead.WAVEFORM_SHAPE], tf.float32)


@dataclasses.dataclass
class Source:
    """One input: make(batch_size, channels) -> dataset of (waveform, {identity column: values})."""

    kind: str  # "stead", "seisbench", "records" or "waveforms"
    identity: list[str]
    make: Callable[[int, str], tf.data.Dataset]
    total: int | None
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    shard: sharding.Shard = sharding.WHOLE  # the share of the input this source reads
    units: int = 0  # the whole input's units, before sharding: traces, record files or station-day chunks
    # Continuous input: what the input is (run.json holds it), this shard's chunks (archive.Chunk), the
    # chunks done before (skipped when read), and each chunk's ChunkRead, queued before its windows.
    settings: dict = dataclasses.field(default_factory=dict)
    chunks: list = dataclasses.field(default_factory=list)
    done: set = dataclasses.field(default_factory=set)
    reads: collections.deque = dataclasses.field(default_factory=collections.deque)

    def __post_init__(self):
        # What `skipped` holds when the source is made, listing the whole input (unreadable files,
        # bad metadata rows), every shard finds again: the first alone counts it, so a merge sums it once.
        if self.shard.index:
            self.skipped.clear()


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Which one input prediction reads: STEAD or SeisBench-format files, a converted dataset's split, or
    recordings."""

    stead_files: stead.SteadFiles = options.nested(stead.SteadFiles)
    seisbench_files: seisbench.SeisBenchFiles = options.nested(seisbench.SeisBenchFiles)
    trace_list: str | None = option(
        None, "STEAD or SeisBench input: only the traces named in this file (one a line)."
    )
    records: str | None = option(None, "Records input: a converted dataset (its directory or manifest.json).")
    split: str = option("test", "Records input: the split to predict.", choices=splits.SPLITS)
    waveforms: tuple[str, ...] = option(
        (), "Continuous input: files, directories or globs of recordings ObsPy reads."
    )
    sds_root: str | None = option(
        None, "Continuous input: a SeisComP Data Structure archive (one MiniSEED file per channel and day)."
    )
    start: str | None = option(
        None,
        "Continuous input: predict the windows that start at or after this UTC time (2024-03-01T00:00:00).",
    )
    end: str | None = option(
        None, "Continuous input: ... and before this UTC time (windows read past it to their end)."
    )
    stations: tuple[str, ...] = option(
        (),
        "Continuous input: only these stations: NET.STA[.LOC[.CHA]] patterns with * and ?, comma-separated.",
    )

    def __post_init__(self):
        options.check(self)
        continuous_only = {"--start": self.start, "--end": self.end, "--stations": self.stations}
        given = [name for name, value in continuous_only.items() if value]
        if given and not (self.waveforms or self.sds_root):
            raise UserError(f"{', '.join(given)}: for continuous input (--waveforms or --sds_root) only")
        if self.sds_root and not (self.start and self.end):
            raise UserError("--sds_root: give --start and --end, the UTC range to predict")
        start, end = self.time_range()
        if start is not None and end is not None and start >= end:
            raise UserError(f"--start={self.start} is not before --end={self.end}")

    def time_range(self) -> tuple[float | None, float | None]:
        """--start and --end as POSIX seconds (None where not given); one line for a time that is not one."""
        times = []
        for name, value in (("start", self.start), ("end", self.end)):
            if value is None:
                times.append(None)
                continue
            try:
                times.append(recordings.import_obspy().UTCDateTime(value).timestamp)
            except (TypeError, ValueError):
                raise UserError(
                    f"--{name}={value}: not a UTC time (2024-03-01 or 2024-03-01T12:00:00)"
                ) from None
        return times[0], times[1]

    def source(self, stride_s: float, fill_gaps: bool, shard: sharding.Shard = sharding.WHOLE) -> Source:
        """The input named; exactly one must be. stride_s, fill_gaps: how recordings are windowed; shard:
        the share of it to read (sharding.py)."""
        named = {
            "STEAD": self.stead_files.given,
            "--seisbench_dir": self.seisbench_files.given,
            "--records": self.records,
            "--waveforms": self.waveforms,
            "--sds_root": self.sds_root,
        }
        given = [name for name, value in named.items() if value]
        if len(given) != 1:
            raise UserError(
                "give one input: --stead_dir (or --csv and --hdf5), --seisbench_dir, --records, "
                "--waveforms or --sds_root" + (f"; got {' and '.join(given)}" if given else "")
            )
        if self.seisbench_files.given:
            return seisbench_source(self.seisbench_files.chunks(), self.trace_list, shard)
        if self.records:
            return records_source(self.records, self.split, shard)
        if self.waveforms or self.sds_root:
            where = dict(sds_root=self.sds_root, time_range=self.time_range(), stations=self.stations)
            return waveforms_source(list(self.waveforms), stride_s, fill_gaps, shard, **where)
        return stead_source(list(self.stead_files.pairs()), self.trace_list, shard)


def stead_source(
    pairs: Sequence[stead.SteadPair], trace_list: str | None = None, shard: sharding.Shard = sharding.WHOLE
) -> Source:
    """Every trace of the STEAD pairs (or those listed in the trace_list file), in file order; or the
    shard's contiguous block of them."""
    # Names as bytes: 40 bytes a trace, 50 MB for all of STEAD's 1.2 million.
    names_of, readable, skipped = [], [], collections.Counter()
    for pair in pairs:
        names = stead.read_metadata(pair.csv, columns=("trace_category",)).trace_name.to_numpy("S")
        try:  # an unreadable file is skipped now, not an error inside tf.data that stops the whole run
            stead.WaveformFile(pair.hdf5).close()
        except stead.SteadError as e:
            print(f"warning: {e}; skipping its {len(names)} traces", file=sys.stderr)
            skipped["in an unreadable HDF5 file"] += len(names)
            continue
        names_of.append(names)
        readable.append(pair)
    listed = _listed(trace_list, names_of)
    names_of = [names[keep] for names, keep in zip(names_of, listed)] if listed else names_of
    units = sum(len(n) for n in names_of)
    names_of = shard.take_grouped(names_of)
    total = sum(len(n) for n in names_of)
    source = Source("stead", ["trace_name"], None, total, skipped, shard=shard, units=units)
    source.make = _batched_traces(
        source, names_of, lambda file, first, stop: stead.WaveformFile(readable[file].hdf5)
    )
    return source


def seisbench_source(
    chunks: Sequence[seisbench.Chunk], trace_list: str | None = None, shard: sharding.Shard = sharding.WHOLE
) -> Source:
    """Every trace of a SeisBench dataset's chunks (or those listed in the trace_list file), in file order,
    each resampled and windowed to 60 s at 100 Hz as the converter does (seisbench_metadata); or the
    shard's contiguous block of them. Rows are named by trace_name_original where the dataset has it."""
    skipped = collections.Counter()
    rows_of = []
    for chunk in chunks:
        meta, bad = seisbench_metadata.load_chunk(chunk, labelled=False)
        skipped.update(reason for _, reason in bad)
        rows_of.append(meta[["trace_name", *seisbench_waveforms.READ_COLUMNS]])
    listed = _listed(trace_list, [rows.trace_name.to_numpy("S") for rows in rows_of])
    rows_of = [rows[keep] for rows, keep in zip(rows_of, listed)] if listed else rows_of
    units = sum(len(rows) for rows in rows_of)
    rows_of = [rows.reset_index(drop=True) for rows in shard.take_grouped(rows_of)]
    total = sum(len(rows) for rows in rows_of)
    source = Source("seisbench", ["trace_name"], None, total, skipped, shard=shard, units=units)

    def open_rows(chunk: int, first: int, stop: int):
        return seisbench_waveforms.WaveformReader(chunks[chunk].hdf5, rows_of[chunk].iloc[first:stop])

    source.make = _batched_traces(source, [rows.trace_name.to_numpy("S") for rows in rows_of], open_rows)
    return source


def _listed(trace_list: str | None, names_of: list[np.ndarray]) -> list[np.ndarray] | None:
    """Per file, which of its traces (names as bytes) the trace_list file names; None without a list.

    Every listed trace must be in one of the files: one line says how many are not.
    """
    if not trace_list:
        return None
    wanted = [name.encode() for name in splits.read_trace_list(trace_list)]
    listed = [np.isin(names, wanted) for names in names_of]
    missing = len(wanted) - sum(int(keep.sum()) for keep in listed)
    if missing:
        raise UserError(f"{trace_list}: {missing} listed traces are in none of the files")
    return listed


def _batched_traces(source: Source, names_of: list[np.ndarray], open_rows: Callable) -> Callable:
    """make(batch_size, channels) for traces read by name, batch after batch, file after file.

    names_of: each file's trace names (bytes), in the order to predict;
    open_rows(file, first, stop): a reader (a context manager with
    .read(name, out=)) of that file's traces first to stop. Bad traces are
    counted in source.skipped and left out.
    """

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        blocks = [(f, i) for f, names in enumerate(names_of) for i in range(0, len(names), batch_size)]

        def read(block: np.int64):
            file, first = blocks[int(block)]
            names = names_of[file][first : first + batch_size]
            waveforms = np.empty((len(names), *stead.WAVEFORM_SHAPE), np.float32)
            good = np.ones(len(names), bool)
            with open_rows(file, first, first + len(names)) as f:
                for i, name in enumerate(names):
                    try:
                        f.read(name.decode(), out=waveforms[i])
                    except stead.BadTraceError as e:
                        good[i] = False
                        source.skipped[e.reason] += 1
            return waveforms[good], names[good]

        def as_batch(block):
            waveforms, names = tf.numpy_function(read, [block], (tf.float32, tf.string), stateful=False)
            waveforms.set_shape(WAVEFORM.shape)
            names.set_shape([None])
            return waveforms, {"trace_name": names}

        ds = tf.data.Dataset.range(len(blocks))
        return ds.map(as_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    return make


def records_source(path: str, split: str, shard: sharding.Shard = sharding.WHOLE) -> Source:
    """Every record of one split of a converted dataset, shard after shard, each in its own order; or
    those of the prediction shard's contiguous block of record shards (files)."""
    dataset = ConvertedDataset(path)
    every_file = dataset.files(split)
    files, counts = shard.take(every_file), shard.take(dataset.file_counts(split))

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        def parse(serialized):
            features = records.parse_batch(serialized, dataset.encoding)
            return features["waveform"], {"trace_name": features["trace_name"]}

        ds = tf.data.TFRecordDataset(files, compression_type=dataset.compression).batch(batch_size)
        return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    return Source("records", ["trace_name"], make, sum(counts), shard=shard, units=len(every_file))


def waveforms_source(
    paths: list[str],
    stride_s: float,
    fill_gaps: bool,
    shard: sharding.Shard = sharding.WHOLE,
    time_range: tuple[float | None, float | None] = (None, None),
    stations: tuple[str, ...] = (),
    sds_root: str | None = None,
    chunk_seconds: float = archive.CHUNK_SECONDS,
) -> Source:
    """Sliding windows over continuous recordings (files, directories or globs; or an SDS archive at
    sds_root), station-day chunk by chunk (archive.py, continuous.read); or over the shard's contiguous
    block of chunks.

    time_range: (start, end) POSIX seconds or None (SourceConfig.time_range);
    stations: NET.STA[.LOC[.CHA]] patterns (archive.select); chunk_seconds:
    the chunks' length (a day; tests cut shorter and longer ones). A range in
    which no station has a file is one line.
    """
    skipped = collections.Counter()
    store = archive.SdsArchive(sds_root, skipped) if sds_root else archive.FileArchive(paths, skipped)
    chosen = archive.select(store.stations, stations)
    stride = int(round(stride_s * stead.SAMPLING_RATE_HZ))
    chunks = archive.plan(chosen, *time_range, stride, chunk_seconds)
    if chunks and time_range != (
        None,
        None,
    ):  # the range may hold no file: one line before anything is written
        utc = recordings.import_obspy().UTCDateTime
        start, end = utc(chunks[0].start(chunks[0].first)), utc(max(c.end() for c in chunks))
        chunks = chunks if any(store.files(s, start, end) for s in chosen) else []
    if not chunks:
        within = " within --start and --end" if time_range != (None, None) else ""
        raise UserError(
            f"no window to predict: the recordings of the {len(chosen)} stations span none (60 s){within}"
        )
    where = [sds_root] if sds_root else paths
    settings = {
        "input": [p if fileio.is_remote(p) else os.path.abspath(p) for p in where],  # one archive, any cwd
        "range": list(time_range),
        "stations": list(stations),
        # Which station-day each chunk file stands for: an archive that gained a station or a day since a
        # killed run numbers its chunks otherwise, so resuming from its files is refused.
        "plan": hashlib.sha256(json.dumps([c.key() for c in chunks]).encode()).hexdigest()[:32],
    }
    source = Source(
        "waveforms",
        ["station", "window_start", "gap_filled_s"],
        None,
        None,
        skipped,
        shard=shard,
        units=len(chunks),
        settings={**settings, "stride": stride_s, "fill_gaps": fill_gaps},
        chunks=list(shard.take(chunks)),
    )

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        def generate():
            named = set()
            for chunk in source.chunks:
                if chunk.index in source.done:
                    continue
                found, windows = _read_chunk(store, chunk, channels, fill_gaps, named)
                source.reads.append(found)  # before its windows: the consumer knows how many will come
                for window, start, filled_s in windows:
                    yield window, chunk.station.id, start, filled_s, chunk.index
                window = windows = None  # its day's samples go before the next day is read: one day in memory

        signature = (
            tf.TensorSpec(stead.WAVEFORM_SHAPE, tf.float32),
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([], tf.float64),
            tf.TensorSpec([], tf.float64),
            tf.TensorSpec([], tf.int64),
        )
        ds = tf.data.Dataset.from_generator(generate, output_signature=signature).batch(batch_size)
        named = lambda w, s, t, f, c: (w, {"station": s, "window_start": t, "gap_filled_s": f, "chunk": c})  # noqa: E731
        return ds.map(named).prefetch(2)

    source.make = make
    return source


def _read_chunk(store, chunk: archive.Chunk, channels: str, fill_gaps: bool, named: set):
    """continuous.read, with a station that lacks a component the models use (named once: named holds the
    stations named so far), or a chunk ObsPy cannot join, giving no window: counted, and the run goes on."""
    missing = "".join(c for c in channels if c not in chunk.station.components)
    if missing:
        if chunk.station.id not in named:
            named.add(chunk.station.id)
            print(f"skipped {chunk.station.id}: no {', '.join(missing)} component, which a model uses")
        return continuous.empty(chunk, collections.Counter({f"station_day_missing_{missing}": 1}))
    try:
        return continuous.read(store, chunk, channels, fill_gaps)
    except Exception as e:  # ObsPy's resampling and merging refuse what they cannot join; one chunk
        print(f"skipped {chunk.station.id} on {chunk.day()}: {type(e).__name__}: {str(e)[:200]}")
        return continuous.empty(chunk, collections.Counter({"chunk_unusable": 1}))


def iso_time(seconds: np.ndarray) -> np.ndarray:
    """POSIX seconds as ISO 8601 UTC text, to the hundredth of a second."""
    utc = datetime.timezone.utc
    # Half a hundredth added, then cut: rounded to the nearest hundredth.
    return np.array(
        [
            datetime.datetime.fromtimestamp(s + 0.005, utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"
            for s in seconds
        ]
    )
