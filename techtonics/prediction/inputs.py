"""What the prediction command reads: STEAD files, converted records, or continuous recordings, as tf.data.

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
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import records, splits, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.prediction import continuous

WAVEFORM = tf.TensorSpec([None, *stead.WAVEFORM_SHAPE], tf.float32)


@dataclasses.dataclass
class Source:
    """One input: make(batch_size, channels) -> dataset of (waveform, {identity column: values})."""

    kind: str  # "stead", "records" or "waveforms"
    identity: list[str]
    make: Callable[[int, str], tf.data.Dataset]
    total: int | None
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    plots: dict = dataclasses.field(default_factory=dict)  # continuous: station -> its Z trace, for figures


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Which one input prediction reads: STEAD files, a converted dataset's split, or recordings."""

    stead_files: stead.SteadFiles = options.nested(stead.SteadFiles)
    trace_list: str | None = option(None, "STEAD input: only the traces named in this file (one a line).")
    records: str | None = option(None, "Records input: a converted dataset (its directory or manifest.json).")
    split: str = option("test", "Records input: the split to predict.", choices=splits.SPLITS)
    waveforms: tuple[str, ...] = option(
        (), "Continuous input: files, directories or globs of recordings ObsPy reads."
    )

    def __post_init__(self):
        options.check(self)

    def source(self, stride_s: float, fill_gaps: bool) -> Source:
        """The input named; exactly one must be. stride_s, fill_gaps: how recordings are windowed."""
        named = {"STEAD": self.stead_files.given, "--records": self.records, "--waveforms": self.waveforms}
        given = [name for name, value in named.items() if value]
        if len(given) != 1:
            raise UserError(
                "give one input: --stead_dir (or --csv and --hdf5), --records, or --waveforms"
                + (f"; got {' and '.join(given)}" if given else "")
            )
        if self.records:
            return records_source(self.records, self.split)
        if self.waveforms:
            return waveforms_source(list(self.waveforms), stride_s, fill_gaps)
        return stead_source(list(self.stead_files.pairs()), self.trace_list)


def stead_source(pairs: Sequence[stead.SteadPair], trace_list: str | None = None) -> Source:
    """Every trace of the STEAD pairs (or those listed in the trace_list file), in file order."""
    # Names as bytes: 40 bytes a trace, 50 MB for all of STEAD's 1.2 million.
    names_of = []
    for pair in pairs:
        names_of.append(stead.read_metadata(pair.csv, columns=("trace_category",)).trace_name.to_numpy("S"))
    if trace_list:
        wanted = splits.read_trace_list(trace_list)
        names_of = [names[np.isin(names, [w.encode() for w in wanted])] for names in names_of]
        found = sum(len(n) for n in names_of)
        if found < len(wanted):
            raise UserError(f"{trace_list}: {len(wanted) - found} listed traces are in none of the files")
    source = Source("stead", ["trace_name"], None, sum(len(n) for n in names_of))

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        blocks = [(p, i) for p, names in enumerate(names_of) for i in range(0, len(names), batch_size)]

        def read(block: np.int64):
            pair, first = blocks[int(block)]
            names = names_of[pair][first : first + batch_size]
            waveforms = np.empty((len(names), *stead.WAVEFORM_SHAPE), np.float32)
            good = np.ones(len(names), bool)
            with stead.WaveformFile(pairs[pair].hdf5) as f:
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

    source.make = make
    return source


def records_source(path: str, split: str) -> Source:
    """Every record of one split of a converted dataset, shard after shard, each in its own order."""
    dataset = ConvertedDataset(path)
    files, total = dataset.files(split), dataset.count(split)

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        def parse(serialized):
            features = records.parse_batch(serialized, dataset.encoding)
            return features["waveform"], {"trace_name": features["trace_name"]}

        ds = tf.data.TFRecordDataset(files, compression_type=dataset.compression).batch(batch_size)
        return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    return Source("records", ["trace_name"], make, total)


def waveforms_source(paths: list[str], stride_s: float, fill_gaps: bool) -> Source:
    """Sliding windows over continuous recordings (continuous.py), station by station."""
    files = continuous.find_files(paths)
    skipped = collections.Counter()
    stations = continuous.group_stations(files, skipped)
    source = Source("waveforms", ["station", "window_start"], None, None, skipped)

    def make(batch_size: int, channels: str) -> tf.data.Dataset:
        def generate():
            yield from continuous.windows(
                stations, stride_s, channels, fill_gaps, source.skipped, source.plots
            )

        signature = (
            tf.TensorSpec(stead.WAVEFORM_SHAPE, tf.float32),
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([], tf.float64),
        )
        ds = tf.data.Dataset.from_generator(generate, output_signature=signature).batch(batch_size)
        return ds.map(lambda w, s, t: (w, {"station": s, "window_start": t})).prefetch(2)

    source.make = make
    return source


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
