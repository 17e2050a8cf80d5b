"""What a conversion writes, decided from the CSVs before any waveform is read: selection, splits, shards.

Everything here is a pure, seeded function of the arguments and the CSVs,
so the same command plans the same shards on every run and machine; that
is what lets a re-run recognise the shards it already wrote (shard_digest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os

import numpy as np
import pandas as pd

from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import records, seisbench, seisbench_metadata, seisbench_waveforms, splits, stead

ON_BAD_TRACE = ("skip", "fail")
_RECORD_OVERHEAD_BYTES = 400  # labels, names and framing beyond the waveform
_SAMPLE_FOR_PAIRING = 50


class ConversionError(UserError):
    """A conversion cannot go on; the message is one line naming what is wrong."""


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Everything that decides what the converter writes (plus processes, which does not)."""

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
    processes: int | None = option(None, "Writer processes (default: all cores).", minimum=1)

    def __post_init__(self):
        options.check(self)
        if not self.pairs:
            raise ConversionError("no input: give a STEAD directory or CSV/HDF5 pairs")
        if self.shard_mb <= 0:
            raise ConversionError(f"--shard_mb={self.shard_mb}: must be positive")

    def arguments(self) -> dict:
        """The arguments that decide the output, as recorded in the manifest."""
        recorded = dataclasses.asdict(self)
        recorded.pop("processes")
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


@dataclasses.dataclass
class Plan:
    """What a conversion writes: the selected metadata, their splits and the shards."""

    meta: pd.DataFrame
    assignment: np.ndarray  # split name per row of meta
    shards: list[Shard]
    skipped: list[list[str]]  # [trace, reason] found before reading waveforms


def shard_digest(job: ShardJob) -> str:
    """Identifies a shard's planned content (traces, their order and labels, the files they come from),
    so a stale file is redone."""
    traces = job.traces
    h = hashlib.sha256(f"{records.SCHEMA_VERSION}|{job.encoding}|{job.compression}|{list(job.hdf5)}".encode())
    # What the waveforms are read from: a source replaced or edited since (even at the same size) redoes
    # the shard instead of resuming it.
    h.update(repr([(os.stat(path).st_size, os.stat(path).st_mtime_ns) for path in job.hdf5]).encode())
    h.update(traces.pair.to_numpy(np.int64).tobytes())
    # SeisBench input: where and how each trace is read (its rate, order and window) come from its CSV.
    reading = [c for c in seisbench_waveforms.READ_COLUMNS if c in traces.columns]
    for column in [*records.COLUMNS, *reading]:
        values = traces[column]
        if column == stead.SNR_COLUMN:
            h.update(np.stack(values.to_numpy()).astype(np.float64).tobytes() if len(values) else b"")
        elif column in records.TARGETS:
            h.update(values.to_numpy(np.float64).tobytes())
        else:
            h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()


def load_metadata(pairs: tuple[stead.SteadPair, ...], on_bad_trace: str) -> tuple[pd.DataFrame, list]:
    """All pairs' metadata (records.COLUMNS) in one frame with a `pair` column, and the traces skipped, as
    [trace, reason] (on_bad_trace="fail": the first is an error): HDF5 traces no CSV row names
    ("not_in_csv"), and every row of a trace name that the inputs give more than once
    ("duplicate_trace_name": which row's labels are right cannot be told).

    Checks each pair belongs together. SeisBench chunks come with their reading columns and the
    skips seisbench_metadata.load_chunk counts.
    """
    frames, unnamed = [], []
    for index, pair in enumerate(pairs):
        if isinstance(pair, seisbench.Chunk):
            meta, skipped = seisbench_metadata.load_chunk(pair, on_bad_trace)
            unnamed += skipped
            frames.append(meta.assign(pair=index))
            continue
        meta = stead.read_metadata(pair.csv, columns=records.COLUMNS, unique=False)
        with stead.WaveformFile(pair.hdf5) as waveforms:
            sample = meta.trace_name.iloc[:: max(1, len(meta) // _SAMPLE_FOR_PAIRING)]
            if len(meta) and not any(name in waveforms for name in sample):
                raise ConversionError(
                    f"{pair.csv} and {pair.hdf5} do not belong together: none of {len(sample)} "
                    "sampled CSV traces is in the HDF5 file"
                )
            # A truncated or header-only CSV would otherwise drop its HDF5's other traces without a word.
            missing = sorted(set(waveforms.trace_names()) - set(meta.trace_name))
        if missing and on_bad_trace == "fail":
            raise stead.BadTraceError(
                "not_in_csv",
                f"{pair.hdf5}: trace {missing[0]} has no row in {pair.csv} ({len(missing)} traces)",
            )
        unnamed += [[name, "not_in_csv"] for name in missing]
        frames.append(meta.assign(pair=index))
    meta = pd.concat(frames, ignore_index=True)
    # A name skipped elsewhere counts too: the manifest tells written traces from skipped ones by name.
    repeated = meta.trace_name.duplicated(keep=False) | meta.trace_name.isin({name for name, _ in unnamed})
    if repeated.any() and on_bad_trace == "fail":
        row = meta[repeated].iloc[0]
        raise stead.BadTraceError(
            "duplicate_trace_name", f"{pairs[row.pair].csv}: trace {row.trace_name} appears more than once"
        )
    unnamed += [[name, "duplicate_trace_name"] for name in meta.trace_name[repeated]]
    return meta[~repeated].reset_index(drop=True), unnamed


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
    reading = [c for c in seisbench_waveforms.READ_COLUMNS if c in meta.columns]  # SeisBench input only
    traces = meta.iloc[shard.rows][["pair", *records.COLUMNS, *reading]]
    traces = traces.assign(row=shard.rows).reset_index(drop=True)
    return ShardJob(
        path=fileio.join(config.output_dir, shard.file),
        hdf5=tuple(p.hdf5 for p in config.pairs),
        traces=traces,
        encoding=config.encoding,
        compression=config.compression,
        on_bad_trace=config.on_bad_trace,
    )


def build(config: ConvertConfig) -> Plan:
    """Reads the metadata, drops unknown categories, selects, splits and plans shards."""
    meta, skipped = load_metadata(config.pairs, config.on_bad_trace)
    unknown = ~meta.trace_category.isin(list(stead.CATEGORY_CLASS))
    skipped += [[name, "unknown_category"] for name in meta.trace_name[unknown]]
    if skipped and config.on_bad_trace == "fail":
        row = meta[unknown].iloc[0]
        raise stead.BadTraceError(
            "unknown_category",
            f"{config.pairs[row.pair].csv}: trace {row.trace_name}: "
            f"unknown trace_category {row.trace_category!r}",
        )
    meta = meta[~unknown].reset_index(drop=True)
    outside = stead.targets_out_of_bounds(meta)
    bad = outside.notna().to_numpy()
    if bad.any() and config.on_bad_trace == "fail":
        row, column = meta[bad].iloc[0], outside[bad].iloc[0]
        raise stead.BadTraceError(
            f"{column}_out_of_bounds",
            f"{config.pairs[row.pair].csv}: trace {row.trace_name}: {column} {row[column]:g} outside "
            "[{:g}, {:g}]".format(*stead.TARGET_BOUNDS[column]),
        )
    skipped += [[name, f"{column}_out_of_bounds"] for name, column in zip(meta.trace_name[bad], outside[bad])]
    meta = meta[~bad].reset_index(drop=True)
    split_config = config.split
    if config.test_trace_list:
        listed = splits.read_trace_list(config.test_trace_list)
        split_config = dataclasses.replace(split_config, test_traces=listed)
    meta = meta.iloc[splits.select(meta, config.noise_traces, config.earthquake_traces, config.split.seed)]
    meta = meta.reset_index(drop=True)
    if config.split.dataset_splits and seisbench_metadata.SPLIT_COLUMN in meta.columns:
        assignment = seisbench_metadata.dataset_splits(meta, config.test_trace_list)
    else:
        assignment = splits.assign(meta, split_config)
    return Plan(meta, assignment, plan_shards(assignment, config), skipped)
