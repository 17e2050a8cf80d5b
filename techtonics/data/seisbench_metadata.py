"""A SeisBench chunk's metadata as a plan's rows: STEAD's schema, the splits, and where each trace is read.

`load_chunk` maps a chunk's (seisbench.py) metadata onto the columns
records need, in STEAD's names:
- trace_name: `trace_name_original` where set (STEAD's own name), else
  SeisBench's `trace_name`;
- p_arrival_sample: the earliest of trace_p / trace_P / trace_Pg / trace_Pn
  _arrival_sample; s_arrival_sample likewise; coda_end_sample:
  trace_coda_end_sample; snr_db: trace_snr_db when it holds E/N/Z values
  (STEAD's), else trace_E/N/Z_snr_db, else missing; source_distance_km:
  itself, else path_ep_distance_km; back_azimuth_deg: path_back_azimuth_deg;
  network_code, receiver_code: station_network_code, station_code;
  source_magnitude, source_depth_km, source_id keep their names;
- the class: `trace_category` where the dataset has it (earthquake* is an
  earthquake), else earthquake when the trace has a P or an S pick, noise
  when it has neither; a dataset with no such column is refused;
- `split` (train, dev, test) becomes the split column (dev is validation);
- every missing value is NaN.
The rate is the trace's `trace_sampling_rate_hz`, else 1 / `trace_dt_s`,
else the data_format's `sampling_rate`. Each trace becomes 60 s at 100 Hz:
resampled (seisbench_waveforms.resample) when its rate is not 100 Hz, then
a window of 6,000 samples: from the trace's start when P is unknown or
within its first 9 s (STEAD's traces are this case, and are kept whole),
else starting so P lands between 4 and 9 s, where STEAD puts it (the
position drawn from the trace name, so runs agree), moved earlier if the
trace ends sooner; a trace shorter than the window is padded with zeros at
the end. Arrival and coda samples move with the resampling and the window;
one that falls before the window's start becomes NaN.
Traces are skipped and counted, by reason, when their block or slice does
not exist or is not 2-D (no_such_block, no_such_slice), lack E, N or Z in
their component order or array (missing_components), or have no rate of at
least 40 Hz (bad_sampling_rate, the bound of continuous recordings). Rows
that give one trace name, or one slice of a block however it is spelled,
are all skipped (duplicate_trace_name, duplicate_slice): which row's labels
are right cannot be told.
"""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pandas as pd

from techtonics.core import fileio
from techtonics.data import recordings, records, stead
from techtonics.data import seisbench_waveforms as waveforms
from techtonics.data.seisbench import Chunk, DataFormat, SeisBenchError

SPLIT_COLUMN = "split"
SPLITS = {"train": "train", "dev": "validation", "test": "test"}
P_COLUMNS = (
    "trace_p_arrival_sample",
    "trace_P_arrival_sample",
    "trace_Pg_arrival_sample",
    "trace_Pn_arrival_sample",
)
S_COLUMNS = (
    "trace_s_arrival_sample",
    "trace_S_arrival_sample",
    "trace_Sg_arrival_sample",
    "trace_Sn_arrival_sample",
)
COMPONENT_SNR = tuple(f"trace_{c}_snr_db" for c in stead.CHANNELS)
# SeisBench's name of each column of STEAD's schema; the arrivals, distance and snr are chosen above.
RENAMED = {
    "trace_coda_end_sample": stead.CODA_COLUMN,
    "trace_snr_db": stead.SNR_COLUMN,
    "station_network_code": "network_code",
    "station_code": "receiver_code",
    "path_back_azimuth_deg": "back_azimuth_deg",
    "path_ep_distance_km": "source_distance_km",
    **{c: c for c in ("source_magnitude", "source_depth_km", "source_distance_km", "source_id")},
}
RATE_COLUMN, DT_COLUMN, ORDER_COLUMN = "trace_sampling_rate_hz", "trace_dt_s", "trace_component_order"
NUMERIC = (*P_COLUMNS, *S_COLUMNS, *COMPONENT_SNR, RATE_COLUMN, DT_COLUMN)
TEXT = ("trace_name", "trace_name_original", "trace_category", SPLIT_COLUMN, ORDER_COLUMN)
# STEAD puts P 4 to 9 s into its traces; a window around a later P puts it in that range.
P_EARLIEST, P_LATEST = 400, 900
_SAME_RATE = 1e-4  # relative difference below which a rate is 100 Hz (SeisBench's tolerance)


def _read_csv(path: str) -> pd.DataFrame:
    """The columns this module maps, as text (missing values NaN), as stead.read_metadata reads STEAD's."""
    if not fileio.exists(path):
        raise SeisBenchError(f"{path}: no such file")
    wanted = {*RENAMED, *NUMERIC, *TEXT}
    try:
        with fileio.open_file(path, "rb") as f:
            header = pd.read_csv(f, nrows=0).columns
            f.seek(0)
            raw = pd.read_csv(
                f,
                usecols=[c for c in header if c in wanted],
                dtype=str,
                keep_default_na=False,
                na_values=list(stead.MISSING_SPELLINGS),
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SeisBenchError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if "trace_name" not in raw.columns:
        raise SeisBenchError(f"{path}: no trace_name column")
    return raw


def _numbers(raw: pd.DataFrame, column: str, path: str) -> np.ndarray:
    """A numeric column as float64 (NaN when missing or absent); text that is no number is an error."""
    if column not in raw.columns:
        return np.full(len(raw), np.nan)
    values = pd.to_numeric(raw[column], errors="coerce")
    bad = values.isna() & raw[column].notna()
    if bad.any():
        i = bad.idxmax()
        raise SeisBenchError(
            f"{path}: trace {raw.trace_name[i]}: {column} {raw[column][i]!r} is not a number"
        )
    return values.to_numpy(np.float64)


def _earliest(raw: pd.DataFrame, columns: tuple[str, ...], path: str) -> np.ndarray:
    """Per row, the earliest of these arrival columns that is known (NaN when none is)."""
    stacked = np.stack([_numbers(raw, c, path) for c in columns])
    known = np.isfinite(stacked).any(axis=0)
    return np.where(known, np.where(np.isfinite(stacked), stacked, np.inf).min(axis=0), np.nan)


def _schema(raw: pd.DataFrame, path: str, labelled: bool) -> pd.DataFrame:
    """The metadata in STEAD's names and types (stead.parse_metadata); class and split as documented."""
    p, s = _earliest(raw, P_COLUMNS, path), _earliest(raw, S_COLUMNS, path)
    has_picks = any(c in raw.columns for c in P_COLUMNS + S_COLUMNS)
    if labelled and "trace_category" not in raw.columns and not has_picks:
        raise SeisBenchError(
            f"{path}: no label column: neither trace_category nor a P or S arrival column "
            f"({', '.join(P_COLUMNS + S_COLUMNS)})"
        )
    mapped = pd.DataFrame(
        {stead_name: raw[name] for name, stead_name in RENAMED.items() if name in raw.columns}
    )
    mapped["p_arrival_sample"], mapped["s_arrival_sample"] = p, s
    snr = mapped.get(stead.SNR_COLUMN)
    if snr is not None and not (snr.dropna().str.count(r"[^\s\[\]]+") == len(stead.CHANNELS)).all():
        mapped = mapped.drop(columns=stead.SNR_COLUMN)  # not E/N/Z values (one a trace): taken from elsewhere
    original = raw.get("trace_name_original", raw.trace_name)
    mapped["trace_name"] = original.fillna(raw.trace_name)
    if "trace_category" in raw.columns:
        category = raw.trace_category.str.strip()
        mapped["trace_category"] = category.where(
            ~category.str.startswith("earthquake", na=False), stead.EARTHQUAKE_CATEGORY
        )
    else:
        picked = np.isfinite(p) | np.isfinite(s)
        mapped["trace_category"] = np.where(picked, stead.EARTHQUAKE_CATEGORY, stead.NOISE_CATEGORY)
    if SPLIT_COLUMN in raw.columns:
        mapped[SPLIT_COLUMN] = raw[SPLIT_COLUMN].map(SPLITS).fillna(raw[SPLIT_COLUMN]).fillna("")
    for column in records.COLUMNS:  # what a dataset does not hold is missing
        if column not in mapped and column != stead.SNR_COLUMN:
            mapped[column] = np.nan
    typed = stead.parse_metadata(mapped, path)
    if stead.SNR_COLUMN not in typed:
        known = all(c in raw.columns for c in COMPONENT_SNR)
        table = np.stack(
            [_numbers(raw, c, path) for c in COMPONENT_SNR] if known else [p * np.nan] * 3, axis=1
        )
        typed[stead.SNR_COLUMN] = pd.Series(list(table), dtype=object)
    return typed


def sampling_rates(raw: pd.DataFrame, data_format: DataFormat, path: str) -> np.ndarray:
    """Each trace's rate in Hz: trace_sampling_rate_hz, else 1 / trace_dt_s, else the data_format's."""
    rate = _numbers(raw, RATE_COLUMN, path)
    with np.errstate(divide="ignore"):
        rate = np.where(np.isnan(rate), 1.0 / _numbers(raw, DT_COLUMN, path), rate)
    return np.where(
        np.isnan(rate), np.nan if data_format.sampling_rate is None else data_format.sampling_rate, rate
    )


def _locate(names: np.ndarray, chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, list]:
    """(samples, channels, file order, skip reason or None, (block, slice_key) or None) of each SeisBench
    trace name, from its block's shape.

    Opens each block once for its shape and file offset, never reading samples.
    """
    axis = chunk.data_format.dimension_order.index("W")
    samples, channels = np.zeros(len(names), np.int64), np.zeros(len(names), np.int64)
    in_file, reasons, slices = np.zeros(len(names)), [None] * len(names), [None] * len(names)
    blocks: dict[str, tuple | None] = {}
    source = fileio.open_file(chunk.hdf5, "rb") if fileio.is_remote(chunk.hdf5) else chunk.hdf5
    with h5py.File(source, "r") as f:
        group = f["data"]
        for i, name in enumerate(names):
            block, location = waveforms.split_name(name)
            if block not in blocks:
                try:
                    dataset = h5py.h5d.open(group.id, block.encode())
                    # Contiguous blocks are read in file order; HDF5-chunked ones as the metadata names them.
                    blocks[block] = (dataset.shape, dataset.get_offset() or len(blocks))
                except (KeyError, ValueError):
                    blocks[block] = None
            if blocks[block] is None:
                reasons[i] = "no_such_block"
                continue
            shape, offset = blocks[block]
            try:
                index = waveforms.parse_location(location)
                trace = waveforms.sliced_shape(shape, index)
            except (ValueError, IndexError):
                trace = ()
            if len(trace) != 2:
                reasons[i] = "no_such_slice"
                continue
            samples[i], channels[i] = trace[axis], trace[1 - axis]
            slices[i] = (block, waveforms.slice_key(shape, index))
            first = index[0] if index and isinstance(index[0], int) else 0
            in_file[i] = offset + first / max(shape[0], 1)
    return samples, channels, in_file, reasons, slices


def _window_starts(names: pd.Series, p: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """First sample of each trace's 60 s window at 100 Hz (the rule in the module's docstring)."""
    where = np.array([P_EARLIEST + zlib.crc32(n.encode()) % (P_LATEST - P_EARLIEST + 1) for n in names])
    late = np.isfinite(p) & (p > P_LATEST)
    start = np.where(late, np.floor(np.where(late, p, 0)) - where, 0)
    return np.clip(start, 0, np.maximum(samples - stead.TRACE_SAMPLES, 0)).astype(np.int64)


def load_chunk(chunk: Chunk, on_bad_trace: str = "skip", labelled: bool = True) -> tuple[pd.DataFrame, list]:
    """A chunk's metadata as a plan's rows: STEAD's columns (records.COLUMNS), `split` where the dataset
    has one, and the columns its WaveformReader reads by (seisbench_waveforms.READ_COLUMNS); and the
    traces skipped, as [trace, reason].

    on_bad_trace="fail": the first bad trace is an error; labelled=False (prediction): no label
    column is needed.
    """
    raw = _read_csv(chunk.csv)
    meta = _schema(raw, chunk.csv, labelled)
    located, channels, file_order, reasons, slices = _locate(raw.trace_name.to_numpy(str), chunk)
    given_twice = {
        "duplicate_trace_name": meta.trace_name.duplicated(keep=False),
        "duplicate_slice": pd.Series(slices).duplicated(keep=False) & pd.Series(slices).notna(),
    }
    for reason, repeated in given_twice.items():
        for i in np.flatnonzero(repeated.to_numpy()):
            reasons[i] = reasons[i] or reason
    rate = sampling_rates(raw, chunk.data_format, chunk.csv)
    order = raw.get(ORDER_COLUMN, pd.Series(chunk.data_format.component_order, index=raw.index))
    order = order.fillna(chunk.data_format.component_order)
    # Components needed: as many as the order's last of E, N, Z; none if the order lacks one.
    needed = {o: max(waveforms.channel_columns(o) or (np.inf,)) + 1 for o in order.unique()}
    for i, trace_order in enumerate(order):
        if reasons[i] is None and channels[i] < needed[trace_order]:
            reasons[i] = "missing_components"
        elif reasons[i] is None and not (np.isfinite(rate[i]) and rate[i] >= recordings.MIN_SAMPLING_RATE_HZ):
            reasons[i] = "bad_sampling_rate"
    bad = np.array([r is not None for r in reasons], bool)
    if bad.any() and on_bad_trace == "fail":
        i = int(bad.argmax())
        raise stead.BadTraceError(
            reasons[i], f"{chunk.hdf5}: trace {raw.trace_name[i]}: {reasons[i].replace('_', ' ')}"
        )
    resampled = np.abs(rate / stead.SAMPLING_RATE_HZ - 1.0) >= _SAME_RATE
    samples = np.where(
        resampled, np.round(located * stead.SAMPLING_RATE_HZ / np.where(bad, 1, rate)), located
    )
    samples = np.where(bad, 0, samples).astype(np.int64)
    # Input sample k lies at k x samples / located once resampled (1 exactly for STEAD's 100 Hz traces).
    stretch = np.where(located > 0, samples / np.maximum(located, 1), 1.0)
    arrivals = ("p_arrival_sample", "s_arrival_sample", stead.CODA_COLUMN)
    for column in arrivals:
        meta[column] = meta[column].to_numpy(np.float64) * stretch
    start = _window_starts(meta.trace_name, meta.p_arrival_sample.to_numpy(), samples)
    # A time the window leaves out is unknown: before its start, or, for a trace that is cut, after its end
    # (an uncut 60 s trace keeps what its catalog says, as STEAD's own files do).
    cut = samples > stead.TRACE_SAMPLES
    for column in arrivals:
        moved = meta[column].to_numpy() - start
        meta[column] = np.where((moved < 0) | (cut & (moved >= stead.TRACE_SAMPLES)), np.nan, moved)
    meta[waveforms.NAME], meta[waveforms.ORDER] = raw.trace_name.to_numpy(), order.to_numpy()
    meta[waveforms.SAMPLES], meta[waveforms.START], meta[waveforms.FILE_ORDER] = samples, start, file_order
    skipped = [[name, reason] for name, reason in zip(meta.trace_name[bad], np.array(reasons, object)[bad])]
    return meta[~bad].reset_index(drop=True), skipped


def dataset_splits(meta: pd.DataFrame, test_trace_list: str | None) -> np.ndarray:
    """The split of every row from the dataset's own split column (plan.build; --dataset_splits)."""
    if test_trace_list:
        raise SeisBenchError(
            f"--test_trace_list={test_trace_list}: the dataset's split column already gives the test split; "
            "add --nodataset_splits to split by the list"
        )
    unknown = ~meta[SPLIT_COLUMN].isin(list(SPLITS.values()))
    if unknown.any():
        i = unknown.idxmax()
        raise SeisBenchError(
            f"trace {meta.trace_name[i]}: split {meta[SPLIT_COLUMN][i]!r} is none of {', '.join(SPLITS)}; "
            "add --nodataset_splits to split by fractions"
        )
    return meta[SPLIT_COLUMN].to_numpy(str)
