"""The STEAD layout: its schema, label definitions, and readers.

STEAD ships as pairs `chunkN.csv` + `chunkN.hdf5` (chunk1 noise, chunk2..6
earthquakes) or one merged pair. The CSV holds 35 metadata columns per trace;
the HDF5 file holds one (6000, 3) float32 dataset per trace at
`data/<trace_name>`, columns E, N, Z, 100 Hz, raw counts. Every CSV column is
repeated as an HDF5 attribute, but attributes are about 10x slower to read
than the waveform, so metadata comes from the CSV and only waveforms from HDF5.

This module is the one place that says what the columns are, which values a
label takes and which columns can be regression targets.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import h5py
import numpy as np
import pandas as pd

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.core.options import option

SAMPLING_RATE_HZ = 100
TRACE_SAMPLES = 6000
CHANNELS = ("E", "N", "Z")  # column order of every waveform
Z = CHANNELS.index("Z")  # the vertical component's column
WAVEFORM_SHAPE = (TRACE_SAMPLES, len(CHANNELS))
WAVEFORM_DTYPE = np.dtype("float32")
HDF5_GROUP = "data"

COLUMNS = (
    "network_code",
    "receiver_code",
    "receiver_type",
    "receiver_latitude",
    "receiver_longitude",
    "receiver_elevation_m",
    "p_arrival_sample",
    "p_status",
    "p_weight",
    "p_travel_sec",
    "s_arrival_sample",
    "s_status",
    "s_weight",
    "source_id",
    "source_origin_time",
    "source_origin_uncertainty_sec",
    "source_latitude",
    "source_longitude",
    "source_error_sec",
    "source_gap_deg",
    "source_horizontal_uncertainty_km",
    "source_depth_km",
    "source_depth_uncertainty_km",
    "source_magnitude",
    "source_magnitude_type",
    "source_magnitude_author",
    "source_mechanism_strike_dip_rake",
    "source_distance_deg",
    "source_distance_km",
    "back_azimuth_deg",
    "snr_db",
    "coda_end_sample",
    "trace_start_time",
    "trace_category",
    "trace_name",
)

TEXT_COLUMNS = frozenset(
    {
        "network_code",
        "receiver_code",
        "receiver_type",
        "p_status",
        "s_status",
        "source_id",
        "source_origin_time",
        "source_magnitude_type",
        "source_magnitude_author",
        "source_mechanism_strike_dip_rake",
        "trace_start_time",
        "trace_category",
        "trace_name",
    }
)
SNR_COLUMN = "snr_db"  # three values, E/N/Z; "[ 56.8  55.4  47.4]" in the CSV
CODA_COLUMN = "coda_end_sample"  # a (1, 1) array; "[[ 2896.]]" in the CSV
FLOAT_COLUMNS = tuple(c for c in COLUMNS if c not in TEXT_COLUMNS | {SNR_COLUMN})
MISSING = "None"  # how STEAD writes a missing value (also as an HDF5 attribute)
# Every spelling of "missing" in real STEAD CSVs: 'None', empty, and 'nan'
# (source_origin_uncertainty_sec of CI events).
MISSING_SPELLINGS = (MISSING, "", "nan", "NaN")

NOISE_CATEGORY = "noise"
EARTHQUAKE_CATEGORY = "earthquake_local"
# Class index of each trace_category; CLASS_NAMES[i] names class i.
CATEGORY_CLASS = {NOISE_CATEGORY: 0, EARTHQUAKE_CATEGORY: 1}
CLASS_NAMES = ("noise", "earthquake")
EARTHQUAKE_CLASS = CATEGORY_CLASS[EARTHQUAKE_CATEGORY]
TRACE_NAME_SUFFIX = {NOISE_CATEGORY: "_NO", EARTHQUAKE_CATEGORY: "_EV"}

# Columns a regressor can learn, with their units. Defined for earthquakes only.
REGRESSION_TARGETS = {
    "source_magnitude": "magnitude",
    "p_arrival_sample": "samples",
    "s_arrival_sample": "samples",
    "coda_end_sample": "samples",
    "source_distance_km": "km",
    "source_depth_km": "km",
    "back_azimuth_deg": "degrees",
}
# Where each target can lie, inclusive: a value outside is no measurement of its trace, and the converter
# skips the trace (counted as `<target>_out_of_bounds`); a missing value (NaN) is in bounds. Arrivals and
# the coda lie in the trace; magnitudes in the range of recorded earthquakes; distances and depths on Earth.
TARGET_BOUNDS = {
    "source_magnitude": (-3.0, 10.0),
    "p_arrival_sample": (0.0, TRACE_SAMPLES),
    "s_arrival_sample": (0.0, TRACE_SAMPLES),
    "coda_end_sample": (0.0, TRACE_SAMPLES),
    "source_distance_km": (0.0, 20_040.0),  # half the Earth's circumference
    "source_depth_km": (-10.0, 800.0),  # above the highest peaks to below the deepest earthquakes
    "back_azimuth_deg": (0.0, 360.0),
}


class SteadError(UserError):
    """Bad STEAD input; the message is one line naming the file and trace."""


class BadTraceError(SteadError):
    """One trace cannot be used; `reason` is a short code for counting skips."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # survives the trip back from a worker process
        return BadTraceError, (self.reason, str(self))


@dataclasses.dataclass(frozen=True)
class SteadPair:
    """One metadata CSV and the HDF5 file holding its waveforms."""

    csv: str
    hdf5: str

    @property
    def name(self) -> str:
        """The pair's stem, such as 'chunk2' or 'merged'."""
        return re.sub(r"\.csv$", "", self.csv.replace("\\", "/").rsplit("/", 1)[-1])


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def find_pairs(stead_dir: str) -> list[SteadPair]:
    """Finds the chunkN.csv/.hdf5 pairs (or one merged pair) in a directory.

    Chunks are returned in numeric order (chunk2 before chunk10). A directory
    holding both chunks and a merged pair is rejected: the merged file repeats
    the chunks' traces, and reading both would count every trace twice.
    """
    if not fileio.isdir(stead_dir):
        raise SteadError(f"{stead_dir}: no such directory")
    names = set(fileio.listdir(stead_dir))
    stems = sorted(
        (n[: -len(".csv")] for n in names if re.fullmatch(r"(chunk\d+|merged)\.csv", n)),
        key=_natural_key,
    )
    if not stems:
        raise SteadError(f"{stead_dir}: no chunkN.csv or merged.csv files")
    if "merged" in stems and len(stems) > 1:
        raise SteadError(
            f"{stead_dir}: holds both merged.csv and chunk CSVs, which repeat the same "
            "traces; pass the files to use explicitly"
        )
    orphans = [
        n for n in names if re.fullmatch(r"(chunk\d+|merged)\.hdf5", n) and n[: -len(".hdf5")] not in stems
    ]
    if orphans:
        raise SteadError(
            f"{fileio.join(stead_dir, sorted(orphans)[0])}: no matching CSV; its traces have no labels"
        )
    pairs = []
    for stem in stems:
        if f"{stem}.hdf5" not in names:
            raise SteadError(f"{fileio.join(stead_dir, stem + '.csv')}: no matching {stem}.hdf5")
        pairs.append(SteadPair(fileio.join(stead_dir, f"{stem}.csv"), fileio.join(stead_dir, f"{stem}.hdf5")))
    return pairs


def pairs_from_lists(csvs: list[str], hdf5s: list[str]) -> list[SteadPair]:
    """Pairs explicit CSV and HDF5 lists in the order given."""
    if len(csvs) != len(hdf5s):
        raise SteadError(f"{len(csvs)} CSV files but {len(hdf5s)} HDF5 files; give one of each per pair")
    return [SteadPair(c, h) for c, h in zip(csvs, hdf5s, strict=True)]


@dataclasses.dataclass(frozen=True)
class SteadFiles:
    """Where a command's STEAD input is: a directory of pairs, or CSV and HDF5 files named one by one.

    Every command that reads STEAD declares its input flags through this one
    config (options.define_flags(stead.SteadFiles)), so they cannot drift.
    """

    stead_dir: str | None = option(
        None, "STEAD input: a directory of chunkN.csv/.hdf5 pairs or merged.csv/.hdf5."
    )
    csv: tuple[str, ...] = option(
        (), "STEAD input: explicit CSV files (instead of --stead_dir), paired with --hdf5."
    )
    hdf5: tuple[str, ...] = option((), "STEAD input: explicit HDF5 files, in the order of --csv.")

    @property
    def given(self) -> bool:
        """Whether any STEAD input was named."""
        return bool(self.stead_dir or self.csv or self.hdf5)

    def pairs(self) -> tuple[SteadPair, ...]:
        """The pairs named (none when no input is given); refuses a directory together with explicit files."""
        if self.stead_dir and (self.csv or self.hdf5):
            raise SteadError("give --stead_dir or --csv/--hdf5, not both")
        if self.stead_dir:
            return tuple(find_pairs(self.stead_dir))
        return tuple(pairs_from_lists(list(self.csv), list(self.hdf5)))


def _parse_snr(values: pd.Series, path: str, names: pd.Series) -> pd.Series:
    """'[ 56.79  55.40  47.40]' -> float64 array of 3 (NaN x 3 when missing).

    All rows are parsed as one text by numpy: a list of three strings a row
    left a million-row CSV's main process hundreds of MB larger.
    """
    missing = values.isna().to_numpy()
    text = values.fillna("").str.strip("[] ")
    bad = ~missing & (text.str.count(r"\S+").to_numpy() != 3)
    if bad.any():
        i = values.index[bad.argmax()]
        raise SteadError(f"{path}: trace {names[i]}: snr_db {values[i]!r} is not 3 numbers")
    present = text[~missing]
    try:
        with warnings.catch_warnings():
            # numpy < 2.3 warns where it stops at text that is not a number; later versions raise.
            warnings.simplefilter("error", DeprecationWarning)
            numbers = np.fromstring(" ".join(present), sep=" ") if len(present) else np.empty(0)
    except (DeprecationWarning, ValueError):
        numbers = np.empty(0)
    if numbers.size != 3 * len(present):
        i = next(i for i, row in present.items() if not _is_numbers(row))
        raise SteadError(f"{path}: trace {names[i]}: snr_db {values[i]!r} is not 3 numbers")
    table = np.full((len(values), 3), np.nan)
    table[~missing] = numbers.reshape(-1, 3)
    return pd.Series(list(table), index=values.index, dtype=object)


def _is_numbers(text: str) -> bool:
    try:
        np.array(text.split(), dtype=np.float64)
    except ValueError:
        return False
    return True


def _to_float(values: pd.Series, column: str, path: str, names: pd.Series) -> pd.Series:
    if column == CODA_COLUMN and not pd.api.types.is_numeric_dtype(values):  # text: object or str dtype
        values = values.str.strip("[] ")
    if values.dtype.kind == "f":
        return values.astype(np.float64)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        i = bad.idxmax()
        raise SteadError(f"{path}: trace {names[i]}: {column} {values[i]!r} is not a number")
    return numbers.astype(np.float64)


def parse_metadata(raw: pd.DataFrame, path: str) -> pd.DataFrame:
    """Types a STEAD CSV read as text: floats (NaN when missing), text, snr_db arrays.

    `raw` holds the CSV (all of STEAD's columns, or a subset with
    `trace_name`, as read_metadata checks) with missing values already NaN. Columns beyond the 35 are
    kept as they are; STEAD's columns come back first, in STEAD order.
    """
    names = raw["trace_name"]
    if names.isna().any():
        raise SteadError(f"{path}: row {int(names.isna().idxmax()) + 2} has no trace_name")
    typed = raw.copy()
    for column in FLOAT_COLUMNS:
        if column in raw.columns:
            typed[column] = _to_float(raw[column], column, path, names)
    if SNR_COLUMN in raw.columns:
        typed[SNR_COLUMN] = _parse_snr(raw[SNR_COLUMN], path, names)
    ordered = [c for c in COLUMNS if c in raw.columns]
    return typed[ordered + [c for c in raw.columns if c not in COLUMNS]].reset_index(drop=True)


_CSV_CHUNK_ROWS = 50_000


def read_metadata(csv_path: str, columns: tuple[str, ...] | None = None, unique: bool = True) -> pd.DataFrame:
    """Reads a STEAD CSV into typed columns (see `parse_metadata`).

    columns: read only these (and trace_name), which keeps the memory of a
    million-row CSV to what is used; the file must still hold all 35.
    unique: refuse a trace name that two rows give (the converter passes
    False: it skips and counts such rows, conversion/plan.py).
    """
    if not fileio.exists(csv_path):
        raise SteadError(f"{csv_path}: no such file")
    # Text columns stay text ('NA' is a network code, source_id may look numeric);
    # only STEAD's own spellings mean missing.
    dtypes = {c: str for c in TEXT_COLUMNS | {SNR_COLUMN, CODA_COLUMN}}
    try:
        with fileio.open_file(csv_path, "rb") as f:
            header = pd.read_csv(f, nrows=0).columns
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise SteadError(f"{csv_path}: missing STEAD columns: {', '.join(missing)}")
            f.seek(0)
            wanted = None if columns is None else [c for c in header if c in {*columns, "trace_name"}]
            # Typed a chunk at a time: parsing a million rows at once held about three times the result.
            chunks = pd.read_csv(
                f,
                usecols=wanted,
                dtype=dtypes,
                keep_default_na=False,
                na_values=list(MISSING_SPELLINGS),
                chunksize=_CSV_CHUNK_ROWS,
            )
            meta = pd.concat([parse_metadata(chunk, csv_path) for chunk in chunks], ignore_index=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SteadError(f"{csv_path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    duplicated = meta.trace_name.duplicated()
    if unique and duplicated.any():
        raise SteadError(f"{csv_path}: trace {meta.trace_name[duplicated.idxmax()]} appears more than once")
    return meta


def targets_out_of_bounds(meta: pd.DataFrame) -> pd.Series:
    """Per row of meta, the first target outside TARGET_BOUNDS; None where every target is in bounds."""
    found = pd.Series(None, index=meta.index, dtype=object)
    for column, (low, high) in TARGET_BOUNDS.items():
        values = meta[column].to_numpy(np.float64)
        outside = ~np.isnan(values) & ~((values >= low) & (values <= high))
        found = found.where(found.notna() | ~outside, column)
    return found


def check_waveform(data: np.ndarray, path: str, trace_name: str) -> np.ndarray:
    """Returns data if it is a finite (6000, 3) float32 waveform, else raises BadTraceError."""
    where = f"{path}: trace {trace_name}"
    if data.shape != WAVEFORM_SHAPE:
        raise BadTraceError("wrong_shape", f"{where}: shape {data.shape}, expected {WAVEFORM_SHAPE}")
    if data.dtype != WAVEFORM_DTYPE:
        raise BadTraceError("wrong_dtype", f"{where}: dtype {data.dtype}, expected float32")
    if not np.isfinite(data).all():
        raise BadTraceError("non_finite", f"{where}: holds NaN or infinite samples")
    return data


class WaveformFile:
    """Reads waveforms by trace name from one STEAD HDF5 file.

    Use as a context manager; one instance per process (HDF5 handles do not
    survive fork). Remote paths are read through tf.io.gfile file objects.
    """

    def __init__(self, path: str):
        self.path = path
        if not fileio.exists(path):
            raise SteadError(f"{path}: no such file")
        try:
            source = fileio.open_file(path, "rb") if fileio.is_remote(path) else path
            self._file = h5py.File(source, "r")
        except OSError as e:
            raise SteadError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None
        if HDF5_GROUP not in self._file:
            self._file.close()
            raise SteadError(f"{path}: no '{HDF5_GROUP}' group, so not a STEAD HDF5 file")
        self._group = self._file[HDF5_GROUP]

    def __enter__(self) -> WaveformFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HDF5 file."""
        self._file.close()

    def __contains__(self, trace_name: str) -> bool:
        return trace_name in self._group

    def __len__(self) -> int:
        return len(self._group)

    def trace_names(self) -> list[str]:
        """Names of all traces in the file."""
        return list(self._group.keys())

    def read(self, trace_name: str, out: np.ndarray | None = None) -> np.ndarray:
        """The trace's (6000, 3) float32 waveform, columns E, N, Z.

        out: a C-contiguous (6000, 3) float32 array to read into (no copy).
        Raises BadTraceError (reason 'missing', 'unreadable', 'wrong_shape',
        'wrong_dtype' or 'non_finite') with a message naming file and trace.
        """
        # h5py's low-level calls: Group[name] costs twice the read itself in
        # Python-side checks (a third of a conversion's time per trace).
        where = f"{self.path}: trace {trace_name}"
        try:
            dataset = h5py.h5d.open(self._group.id, trace_name.encode())
        except (KeyError, ValueError):
            raise BadTraceError("missing", f"{where} is not in the file") from None
        except (OSError, RuntimeError) as e:
            raise BadTraceError("unreadable", f"{where}: {str(e).splitlines()[0]}") from None
        if dataset.shape != WAVEFORM_SHAPE or dataset.dtype != WAVEFORM_DTYPE:
            return check_waveform(np.empty(dataset.shape, dataset.dtype), self.path, trace_name)
        if out is None:
            out = np.empty(WAVEFORM_SHAPE, WAVEFORM_DTYPE)
        try:
            dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
        except (OSError, RuntimeError) as e:
            message = str(e).splitlines()[0]
            raise BadTraceError("unreadable", f"{where}: {message}") from None
        return check_waveform(out, self.path, trace_name)
