"""Continuous recordings (any format ObsPy reads) as STEAD-like windows; detections from predictions.

Files, directories and globs are read headers first to group traces by
station: network.station.location and channel band (`HH`, `BH`, `EH`, ...).
Components map to E/N/Z, and 1/2 count as E/N. One station's recordings
at a time are read, resampled to 100 Hz where needed (ObsPy's Fourier
resampling) and merged per component, so memory follows the largest
station, not the whole input. Windows of 6,000 samples step by the stride,
each exactly as a STEAD trace: raw counts, float32, columns E, N, Z. A
window that touches a gap is skipped and counted, or its gaps are filled
(`fill_gaps`) by linear interpolation between the samples on either side
(ObsPy's merge `fill_value="interpolate"`): a constant fill, such as the
window's median, steps at the gap's edges, and a step is broadband energy
that a detector takes for an onset. Each window says how many seconds of it
were filled. A component that no model
uses may be missing and is zeros; a missing component that a model uses
skips the station, counted.

Recordings of one component that overlap may agree (a file read twice, day
files that share a record) or disagree. Where they disagree, the samples of
the recording that starts first (of two that start together, the file whose
path sorts first) are used, and the later one gives only the samples
outside it: each such overlap is counted (`disagreeing_overlap`) and named
with its station and files. Samples are compared at the recordings' own
rate, before resampling; recordings of different rates always disagree.

`detections` merges windows whose earthquake probability reaches the
threshold, and overlap, into events.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import warnings
from collections.abc import Iterator

import numpy as np

from techtonics.core.errors import UserError
from techtonics.data import stead

COMPONENT = {"E": "E", "1": "E", "N": "N", "2": "N", "Z": "Z"}
# Below this rate a recording cannot hold the image's band (the spectrogram reaches 50 Hz at 100 Hz).
MIN_SAMPLING_RATE_HZ = 40.0
_PLOT_POINTS = 4000  # min/max pairs kept per station for its figure


def import_obspy():
    """ObsPy, or one line saying how to install it."""
    try:
        import obspy
    except ImportError:
        raise UserError(
            "--waveforms needs ObsPy: pip install 'techtonics[waveforms]' (or pip install obspy)"
        ) from None
    return obspy


def find_files(paths: list[str]) -> list[str]:
    """Every file named, under a directory or matching a glob, sorted; one line for a path with none."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            matches = [os.path.join(root, f) for root, _, files in os.walk(path) for f in files]
        else:
            matches = [m for m in glob.glob(path) if os.path.isfile(m)]
        if not matches:
            empty = os.path.isdir(path)
            raise UserError(
                f"{path}: {'an empty directory' if empty else 'no such file, directory or matching files'}"
            )
        found += matches
    return sorted(set(found))


@dataclasses.dataclass
class Station:
    """One station's recordings: its id (NET.STA.LOC.BAND) and files per component."""

    id: str
    files: set[str] = dataclasses.field(default_factory=set)
    components: set[str] = dataclasses.field(default_factory=set)


def group_stations(files: list[str], skipped: collections.Counter) -> list[Station]:
    """Stations by network.station.location and band, from the headers; unreadable files are counted."""
    obspy = import_obspy()
    stations: dict[str, Station] = {}
    for path in files:
        try:
            headers = obspy.read(path, headonly=True)
        except Exception as e:  # ObsPy raises TypeError, ValueError, OSError, ... for what it cannot read
            skipped["unreadable_file"] += 1
            print(
                f"skipped {path}: ObsPy cannot read it ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
            )
            continue
        for trace in headers:
            s = trace.stats
            component = COMPONENT.get(s.channel[-1:].upper())
            if component is None:
                skipped["unknown_component"] += 1
                continue
            key = f"{s.network}.{s.station}.{s.location}.{s.channel[:-1]}"
            station = stations.setdefault(key, Station(key))
            station.files.add(path)
            station.components.add(component)
    if not stations and files:
        raise UserError(f"{files[0]}: no readable recordings in the {len(files)} files given")
    return [stations[k] for k in sorted(stations)]


def _read_station(station: Station, skipped: collections.Counter) -> list[tuple[str, object]]:
    """(path, trace) of the station's traces of known components, from every file whose samples ObsPy can
    decode.

    Headers can be intact while the data is not (corrupt Steim frames): such a
    file is skipped, counted and named, and the station's other files are read.
    """
    obspy = import_obspy()
    recordings = []
    net, sta, loc, band = station.id.split(".")
    for path in sorted(station.files):
        try:
            traces = obspy.read(path).select(network=net, station=sta, location=loc, channel=f"{band}?")
        except Exception as e:  # ObsPy's decoders raise their own errors (InternalMSEEDError, ...)
            skipped["undecodable_file"] += 1
            print(f"skipped {path} for {station.id}: ObsPy cannot decode its samples ({type(e).__name__})")
            continue
        # Unknown components (R/T, X/Y) were counted when grouping; the model uses E/N/Z only.
        recordings += [(path, t) for t in traces if t.stats.channel[-1:].upper() in COMPONENT]
    return recordings


def _overlap(earlier, later) -> int:
    """How many of later's first samples lie within earlier's span (to half a sample)."""
    within = (earlier.stats.endtime - later.stats.starttime) * later.stats.sampling_rate
    return int(np.clip(np.floor(within + 0.5) + 1, 0, later.stats.npts))


def _agree(earlier, later, count: int) -> bool:
    """Whether later's first `count` samples equal earlier's at the same times (same rate only)."""
    if earlier.stats.sampling_rate != later.stats.sampling_rate:
        return False
    offset = int(round((later.stats.starttime - earlier.stats.starttime) * earlier.stats.sampling_rate))
    ours = earlier.data[offset : offset + count]
    return np.array_equal(ours, later.data[: len(ours)])


def _first_recording_wins(
    station_id: str, recordings: list[tuple[str, object]], skipped: collections.Counter
) -> list:
    """The traces of (path, trace) recordings with every overlap that disagrees cut from the recording that
    starts later (the module's rule); each such overlap is counted and named."""
    kept: list[tuple[str, object]] = []
    for path, trace in sorted(recordings, key=lambda r: (r[1].stats.starttime, r[0])):
        component = COMPONENT[trace.stats.channel[-1].upper()]
        for earlier_path, earlier in kept:
            if COMPONENT[earlier.stats.channel[-1].upper()] != component:
                continue
            count = _overlap(earlier, trace)
            if count == 0 or _agree(earlier, trace, count):
                continue
            skipped["disagreeing_overlap"] += 1
            print(
                f"{station_id}: {component} of {path} disagrees with {earlier_path} for "
                f"{count / trace.stats.sampling_rate:g} s where they overlap; there the samples of "
                f"{earlier_path}, which starts first, are used"
            )
            trace.stats.starttime += count / trace.stats.sampling_rate
            trace.data = trace.data[count:]
        if trace.stats.npts:
            kept.append((path, trace))
    return [trace for _, trace in kept]


def _station_data(station: Station, skipped: collections.Counter):
    """(start UTCDateTime, masked (samples, 3) E/N/Z array at 100 Hz, components present) of one station."""
    obspy = import_obspy()
    band = station.id.split(".")[-1]
    usable = []
    for path, trace in _read_station(station, skipped):
        if trace.stats.sampling_rate < MIN_SAMPLING_RATE_HZ:
            skipped[f"sampling_rate_below_{MIN_SAMPLING_RATE_HZ:g}_hz"] += 1
            continue
        usable.append((path, trace))
    kept = obspy.Stream()
    for trace in _first_recording_wins(station.id, usable, skipped):
        trace.data = trace.data.astype(np.float64)
        if trace.stats.sampling_rate != stead.SAMPLING_RATE_HZ:
            trace.resample(stead.SAMPLING_RATE_HZ)
        trace.stats.channel = band + COMPONENT[trace.stats.channel[-1].upper()]
        kept.append(trace)
    if not kept:
        return None, None, set()
    kept.merge(method=1, fill_value=None)  # gaps become masked samples
    start = min(t.stats.starttime for t in kept)
    end = max(t.stats.endtime for t in kept)
    kept.trim(start, end, pad=True, fill_value=None, nearest_sample=True)
    samples = min(t.stats.npts for t in kept)
    data = np.ma.masked_all((samples, len(stead.CHANNELS)), np.float32)
    present = set()
    for trace in kept:
        column = stead.CHANNELS.index(trace.stats.channel[-1])
        data[:, column] = np.ma.asarray(trace.data[:samples], np.float32)
        present.add(trace.stats.channel[-1])
    return start, data, present


def _plot_trace(z: np.ma.MaskedArray) -> np.ndarray:
    """The Z channel as (points, 2) min/max pairs, for the station's figure."""
    values = z.filled(np.nan)
    step = max(1, len(values) // _PLOT_POINTS)
    usable = len(values) // step * step
    blocks = values[:usable].reshape(-1, step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-gap block: NaN, drawn as nothing
        return np.stack([np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1)], axis=1)


def windows(
    stations: list[Station],
    stride_s: float,
    channels: str,
    fill_gaps: bool,
    skipped: collections.Counter,
    plots: dict,
) -> Iterator[tuple[np.ndarray, str, float, float]]:
    """(window (6000, 3) float32, station id, window start as a POSIX timestamp, seconds of it filled) of
    every station, in order.

    channels: the components the models use; skipped: counts by reason; plots:
    filled with each station's (start timestamp, Z min/max pairs, seconds per pair).
    """
    stride = int(round(stride_s * stead.SAMPLING_RATE_HZ))
    length = stead.TRACE_SAMPLES
    for station in stations:
        try:
            start, data, present = _station_data(station, skipped)
        except Exception as e:  # ObsPy's resampling and merging refuse what they cannot join; one station
            skipped["station_unusable"] += 1
            print(f"skipped {station.id}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        if data is None:
            continue
        missing = [c for c in channels if c not in present]
        if missing:
            skipped[f"station_missing_{''.join(missing)}"] += 1
            print(f"skipped {station.id}: no {', '.join(missing)} component, which a model uses")
            continue
        for c in stead.CHANNELS:
            if c not in present:
                data[:, stead.CHANNELS.index(c)] = 0.0  # unused by every model
        if len(data) < length:
            skipped["station_shorter_than_a_window"] += 1
            print(
                f"skipped {station.id}: {len(data) / stead.SAMPLING_RATE_HZ:.1f} s, "
                "shorter than one window (60 s)"
            )
            continue
        z = data[:, stead.Z]
        plots[station.id] = (
            start.timestamp,
            _plot_trace(z),
            max(1, len(z) // _PLOT_POINTS) / stead.SAMPLING_RATE_HZ,
        )
        for offset in range(0, len(data) - length + 1, stride):
            window = data[offset : offset + length]
            gap = np.ma.getmaskarray(window).any(axis=1)
            if gap.any():
                if not fill_gaps:
                    skipped["window_in_a_gap"] += 1
                    continue
                window = _interpolated(window)
            yield (
                np.asarray(window, np.float32),
                station.id,
                start.timestamp + offset / stead.SAMPLING_RATE_HZ,
                gap.sum() / stead.SAMPLING_RATE_HZ,
            )


def _interpolated(window: np.ma.MaskedArray) -> np.ndarray:
    """The window with each channel's gaps joined linearly to the samples on either side (held at ends)."""
    filled = np.ma.getdata(window).copy()
    samples = np.arange(len(window))
    for c in range(window.shape[1]):
        gap = np.ma.getmaskarray(window[:, c])
        if gap.all():  # the component is missing from the whole window: nothing to join
            filled[:, c] = 0.0
        elif gap.any():
            filled[gap, c] = np.interp(samples[gap], samples[~gap], filled[~gap, c])
    return filled


def estimate_field(column: str) -> str:
    """The field of a detection that reports a regressor's column: an arrival in samples after the
    window start (`<model>.p_arrival_sample`) is reported as an absolute time (`<model>.p_arrival_time`)."""
    return column.removesuffix("_sample") + "_time" if column.endswith("_sample") else column


def is_time(field: str) -> bool:
    """Whether a detection's field is a time (POSIX seconds)."""
    return field in ("start", "end", "peak_window_start") or field.endswith("_time")


def detections(
    starts: np.ndarray,
    probability: np.ndarray,
    estimates: dict[str, np.ndarray],
    threshold: float,
    filled_s: np.ndarray,
    chosen_by: dict[str, str] | None = None,
) -> list[dict]:
    """Windows of one station whose probability reaches threshold, merged while they overlap, as events.

    starts: window starts (POSIX seconds, ascending); estimates: each
    regressor's column. An event has its start (first window's start), end
    (last window's end), peak probability and time of the peak window's
    start, and the median of every estimate over its windows; arrival
    estimates (samples from the window start) become absolute times first.
    filled_s: seconds of each window that were filled gaps; an event counts
    its filled windows, so a detection made of filled data can be told.
    chosen_by: {estimate column: its probability's column} for arrivals that
    are reported from the window where they are most probable (a picker's:
    the median would mix windows that hold the onset with ones that do not).
    """
    length_s = stead.TRACE_SAMPLES / stead.SAMPLING_RATE_HZ
    above = np.flatnonzero(probability >= threshold)
    groups, current = [], []
    for i in above:
        if current and starts[i] > starts[current[-1]] + length_s:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    events = []
    for members in groups:
        members = np.asarray(members)
        peak = members[np.argmax(probability[members])]
        event = {
            "start": starts[members[0]],
            "end": starts[members[-1]] + length_s,
            "peak_probability": float(probability[peak]),
            "peak_window_start": starts[peak],
            "windows": int(members.size),
            "filled_windows": int(np.count_nonzero(filled_s[members])),
        }
        for column, values in estimates.items():
            field = estimate_field(column)
            if column in (chosen_by or {}):  # the window where it is most probable
                members_of = members[[np.argmax(estimates[chosen_by[column]][members])]]
            else:
                members_of = members
            if field != column:  # samples after the window start -> absolute time
                times = starts[members_of] + values[members_of] / stead.SAMPLING_RATE_HZ
                event[field] = float(np.median(times))
            else:
                event[field] = float(np.median(values[members_of]))
        events.append(event)
    return events
