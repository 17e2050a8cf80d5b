"""Continuous recordings as STEAD-like windows, one chunk (a station-day, archive.py) at a time; detections.

`read` reads one chunk: the files its archive names for the chunk's span
(one window past its day), the station's traces of known components,
resampled to 100 Hz where needed (ObsPy's Fourier resampling) and merged
per component, as raw counts, float32, columns E, N, Z. Memory follows a
chunk, not the archive. Its windows of 6,000 samples start on the station's
stride grid, each exactly as a STEAD trace. A window that touches a gap is
skipped and counted, or its gaps are filled (`fill_gaps`) by linear
interpolation between the samples on either side: a constant fill, such as
the window's median, steps at the gap's edges, and a step is broadband
energy that a detector takes for an onset. A window in which a component
that a model uses has no sample at all is skipped either way (there is
nothing to interpolate between). Each window says how many seconds of it
were filled. Components that no model uses are zeros.

A file is read only over the chunk's span (MiniSEED's records outside it
are not decoded), except one whose rate is not 100 Hz: it is read and
resampled whole, so its samples are the same in every chunk that reads it.
Bad files are skipped, counted and named in one line, and the chunk goes
on with the others: one ObsPy cannot decode, one below 40 Hz, and a day
file whose samples lie outside the day its name gives (SDS).

Recordings of one component that overlap may agree (a file read twice, day
files that share a record) or disagree. Where they disagree, the samples of
the recording that starts first (of two that start together, the file whose
path sorts first) are used, and the later one gives only the samples
outside it: each such overlap is counted (`disagreeing_overlap`) and named
with its station and files, in the chunk whose day it starts in. Samples
are compared at the recordings' own rate, before resampling; recordings of
different rates always disagree.

`detections` merges windows whose earthquake probability reaches the
threshold, and overlap, into events.
"""

from __future__ import annotations

import collections
import dataclasses
import warnings
from collections.abc import Iterator

import numpy as np

from techtonics.data import recordings, stead
from techtonics.prediction import archive


@dataclasses.dataclass
class ChunkRead:
    """What reading one chunk found: the windows it gives, what it skipped, and its figure's points.

    plot: (point indices into the station's figure, Z minimum, Z maximum)
    of the samples the chunk owns (from its first window's start to the
    next chunk's; the station's last chunk also owns its last window's
    tail), then the figure's start (POSIX s) and seconds per point.
    """

    chunk: archive.Chunk
    windows: int
    skipped: collections.Counter
    plot: tuple


def read(
    store, chunk: archive.Chunk, channels: str, fill_gaps: bool
) -> tuple[ChunkRead, Iterator[tuple[np.ndarray, float, float]]]:
    """One chunk of the store (an archive): what it found, and its windows as (window (6000, 3) float32,
    start POSIX s, seconds of it filled), in order. channels: the components the models use."""
    skipped = collections.Counter()
    data = _chunk_data(store, chunk, channels, skipped)
    if data is None:
        if not skipped:  # no file of the day was bad: it has none
            skipped["station_day_without_data"] += 1
        return empty(chunk, skipped)
    values, mask = np.ma.getdata(data), np.ma.getmaskarray(data)
    offsets = np.arange(chunk.windows) * chunk.stride
    if mask.any():
        gaps = _per_window(mask.any(axis=1), offsets)
        blank = np.stack([_per_window(mask[:, c], offsets) for c in range(mask.shape[1])], axis=1)
        keep = (gaps == 0) if not fill_gaps else (blank < stead.TRACE_SAMPLES).all(axis=1)
    else:  # most days: no gap, and no pass over the mask
        gaps, keep = np.zeros(len(offsets), np.int64), np.ones(len(offsets), bool)
    skipped["window_in_a_gap"] += int(np.count_nonzero(~keep))
    found = ChunkRead(chunk, int(np.count_nonzero(keep)), skipped, _plot_points(chunk, values, mask))

    def windows():
        for offset, gap in zip(offsets[keep], gaps[keep]):
            window = values[offset : offset + stead.TRACE_SAMPLES]
            if gap:
                window = _interpolated(np.ma.MaskedArray(window, mask[offset : offset + stead.TRACE_SAMPLES]))
            yield window, chunk.start(chunk.first + offset // chunk.stride), gap / stead.SAMPLING_RATE_HZ

    return found, windows()


def empty(chunk: archive.Chunk, skipped: collections.Counter) -> tuple[ChunkRead, Iterator]:
    """A chunk that gives no window (read's answer), with what it skipped."""
    return ChunkRead(chunk, 0, skipped, _plot_points(chunk, np.zeros((0, 3)), np.ones((0, 3), bool))), iter(
        ()
    )


def _per_window(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many of each window's samples are flagged (a running sum: one pass over the chunk)."""
    running = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return running[offsets + stead.TRACE_SAMPLES] - running[offsets]


def _plot_points(chunk: archive.Chunk, values: np.ndarray, mask: np.ndarray):
    """The chunk's share of its station's figure: Z's min and max per point (ChunkRead.plot)."""
    owned, step = min(len(values), _owned_samples(chunk)), chunk.plot_step
    z = np.where(mask[:owned, stead.Z], np.nan, values[:owned, stead.Z])
    first = (chunk.first - chunk.plot_first) * chunk.stride  # the station's sample at the chunk's start
    starts = (
        np.unique(np.concatenate([[0], np.arange((-first) % step, owned, step)]))
        if owned
        else np.zeros(0, int)
    )
    low, high = (np.fmin.reduceat(z, starts), np.fmax.reduceat(z, starts)) if owned else (z, z)
    points = (first + starts) // step
    return (
        points,
        low,
        high,
        np.float64(chunk.start(chunk.plot_first)),
        np.float64(step / stead.SAMPLING_RATE_HZ),
    )


def _owned_samples(chunk: archive.Chunk) -> int:
    """Samples from the chunk's first window's start to the next chunk's (its last window's end for the
    station's last chunk)."""
    return chunk.samples if chunk.last else min(chunk.windows * chunk.stride, chunk.samples)


def _chunk_data(store, chunk: archive.Chunk, channels: str, skipped: collections.Counter):
    """The chunk's samples as a masked (samples, 3) float32 E/N/Z array, gaps masked; None if it has none."""
    obspy = recordings.import_obspy()
    station, rate = chunk.station, stead.SAMPLING_RATE_HZ
    start = obspy.UTCDateTime(chunk.start(chunk.first))
    end = start + (chunk.samples - 1) / rate
    usable = []
    # A second's margin: the samples nearest the ends, and which of two overlapping recordings starts first.
    for path in store.files(station, start - 1, end + 1):
        for trace in _read_file(store, chunk, path, start - 1, end + 1, skipped):
            if trace.stats.sampling_rate >= recordings.MIN_SAMPLING_RATE_HZ:
                usable.append((path, trace))
            elif _owns(chunk, trace.stats.starttime.timestamp):
                skipped[f"sampling_rate_below_{recordings.MIN_SAMPLING_RATE_HZ:g}_hz"] += 1
                print(
                    f"skipped {path}: {trace.id} at {trace.stats.sampling_rate:g} Hz, below "
                    f"{recordings.MIN_SAMPLING_RATE_HZ:g} Hz"
                )
    band = station.id.split(".")[-1]
    kept = obspy.Stream()
    for trace in _first_recording_wins(chunk, usable, skipped):
        # Float32 is what the windows hold: counts rounded once either way. Resampling works in float64.
        if trace.stats.sampling_rate != rate:
            trace.data = trace.data.astype(np.float64)
            trace.resample(rate)
        trace.data = trace.data.astype(np.float32)
        trace.stats.channel = band + recordings.COMPONENT[trace.stats.channel[-1].upper()]
        kept.append(trace)
    if not kept:
        return None
    kept.merge(method=1, fill_value=None)  # gaps become masked samples
    kept.trim(start, end, pad=True, fill_value=None, nearest_sample=True)
    data = np.ma.masked_all((chunk.samples, len(stead.CHANNELS)), np.float32)
    for trace in kept:
        count = min(chunk.samples, trace.stats.npts)
        data[:count, stead.CHANNELS.index(trace.stats.channel[-1])] = np.ma.asarray(
            trace.data[:count], np.float32
        )
    for c in stead.CHANNELS:
        if c not in channels:
            data[:, stead.CHANNELS.index(c)] = 0.0  # unused by every model
    own = data[: _owned_samples(chunk)]  # the next day's first minute does not make up for this day
    missing = [c for c in channels if np.ma.getmaskarray(own[:, stead.CHANNELS.index(c)]).all()]
    if len(missing) == len(channels):  # only the next day's first minute: the day has no data of its own
        skipped["station_day_without_data"] += 1
    elif missing:
        skipped[f"station_day_missing_{''.join(missing)}"] += 1
        print(
            f"{station.id} on {chunk.day()}: no {', '.join(missing)} samples, which a model uses; "
            f"its {chunk.windows} windows are skipped"
        )
    return data


def _owns(chunk: archive.Chunk, t: float) -> bool:
    """Whether the chunk names what begins at t (POSIX s): the chunk whose own span holds t, the station's
    first chunk what begins before and its last what begins after. A file or overlap that two chunks read
    is so counted and named once."""
    own_start, own_end = chunk.start(chunk.first), chunk.start(chunk.first + chunk.windows)
    return (own_start <= t or chunk.first == chunk.plot_first) and (t < own_end or chunk.last)


def _read_file(store, chunk: archive.Chunk, path: str, start, end, skipped: collections.Counter) -> list:
    """The station's traces of known components in one file, over start to end (whole, and named, at a rate
    other than 100 Hz); none, counted and named, for a file ObsPy cannot decode or (SDS) outside its day."""
    obspy = recordings.import_obspy()
    from obspy.io.mseed import InternalMSEEDWarning

    station = chunk.station
    net, sta, loc, band = station.id.split(".")

    def named(reason: str, line: str) -> None:  # by the chunk that owns the file: once
        if _owns(chunk, store.first_sample(station, path)):
            skipped[reason] += 1
            print(line)

    try:
        if store.outside_its_day(path):
            named("file_outside_its_day", f"skipped {path}: its samples lie outside the day its name gives")
            return []
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", InternalMSEEDWarning)
            traces = obspy.read(path, format=store.format, starttime=start, endtime=end)
        if any(issubclass(w.category, InternalMSEEDWarning) for w in said):  # records it could not decode
            named(
                "file_with_damaged_records",
                f"{path}: ObsPy skipped records it could not decode; read the rest",
            )
        rates = {t.stats.sampling_rate for t in traces} - {stead.SAMPLING_RATE_HZ}
        if rates:
            traces = obspy.read(path, format=store.format)  # resampled whole, as every chunk reads it
            if min(rates) >= recordings.MIN_SAMPLING_RATE_HZ and _owns(
                chunk, store.first_sample(station, path)
            ):
                print(f"resampled {path}: {', '.join(f'{r:g}' for r in sorted(rates))} Hz to 100 Hz")
    except Exception as e:  # ObsPy's decoders raise their own errors (InternalMSEEDError, ...)
        named(
            "undecodable_file",
            f"skipped {path} for {station.id}: ObsPy cannot decode it ({type(e).__name__})",
        )
        return []
    traces = traces.select(network=net, station=sta, location=loc, channel=f"{band}?")
    # Unknown components (R/T, X/Y) were counted when the archive was listed; the models use E/N/Z only.
    return [t for t in traces if t.stats.channel[-1:].upper() in recordings.COMPONENT]


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
    chunk: archive.Chunk, found: list[tuple[str, object]], skipped: collections.Counter
) -> list:
    """The traces of (path, trace) recordings with every overlap that disagrees cut from the recording that
    starts later (the module's rule); each such overlap is counted and named by the chunk that owns it."""
    kept: list[tuple[str, object]] = []
    for path, trace in sorted(found, key=lambda r: (r[1].stats.starttime, r[0])):
        component = recordings.COMPONENT[trace.stats.channel[-1].upper()]
        for earlier_path, earlier in kept:
            if recordings.COMPONENT[earlier.stats.channel[-1].upper()] != component:
                continue
            count = _overlap(earlier, trace)
            if count == 0 or _agree(earlier, trace, count):
                continue
            if _owns(chunk, trace.stats.starttime.timestamp):
                skipped["disagreeing_overlap"] += 1
                print(
                    f"{chunk.station.id}: {component} of {path} disagrees with {earlier_path} for "
                    f"{count / trace.stats.sampling_rate:g} s where they overlap; there the samples of "
                    f"{earlier_path}, which starts first, are used"
                )
            trace.stats.starttime += count / trace.stats.sampling_rate
            trace.data = trace.data[count:]
        if trace.stats.npts:
            kept.append((path, trace))
    return [trace for _, trace in kept]


def _interpolated(window: np.ma.MaskedArray) -> np.ndarray:
    """The window with each channel's gaps joined linearly to the samples on either side (held at ends);
    every channel holds a sample (read keeps no window without one)."""
    filled = np.ma.getdata(window).copy()
    samples = np.arange(len(window))
    for c in range(window.shape[1]):
        gap = np.ma.getmaskarray(window[:, c])
        if gap.any():
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
