"""Where a station's continuous recordings are, and how its time range is cut into station-day chunks.

An archive lists stations (NET.STA.LOC.BAND, e.g. XX.STA01.00.HH) with the
components they record, and names the files that may hold any span of time:

- `FileArchive`: files, directories or globs of anything ObsPy reads; their
  headers are read once, to index each file's span by station.
- `SdsArchive`: a SeisComP Data Structure (one file per channel and day),
  through ObsPy's SDS client: stations from its listing, and for a span
  only the day files the client names for it (plus its border of adjacent
  days, where SDS writers leave a record that crosses midnight).

`plan` cuts every station's range into chunks of one UTC day each. Windows
start on one grid per station, `origin + k * stride`, whose origin is
--start (or the station's first sample); a chunk holds the windows that
start within its day, and reads one window past the day's end. So the
chunks' windows, end to end, are exactly those one pass over the whole
range makes, and each chunk is read, predicted and written on its own:
memory follows a day, not the archive, and a chunk is the unit of sharding
and of resuming (predictor.py).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import fnmatch
import glob
import math
import os
import re

from techtonics.core.errors import UserError
from techtonics.data import recordings, stead

CHUNK_SECONDS = 86_400.0  # a UTC day: the unit of SDS archives and of shards


@dataclasses.dataclass
class Station:
    """One station: its id (NET.STA.LOC.BAND), its channel codes and, from file headers, its spans."""

    id: str
    channels: set[str] = dataclasses.field(default_factory=set)
    spans: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)  # (path, first, last)

    @property
    def components(self) -> set[str]:
        """E, N and Z as STEAD names them (recordings.COMPONENT)."""
        return {recordings.COMPONENT[c[-1].upper()] for c in self.channels}

    def extent(self) -> tuple[float, float] | None:
        """(first sample, last sample) as POSIX seconds over the indexed files; None when not indexed."""
        if not self.spans:
            return None
        return min(s[1] for s in self.spans), max(s[2] for s in self.spans)


def _add(stations: dict[str, Station], net, sta, loc, channel, skipped) -> Station | None:
    """The station of one channel (created on first sight); None, counted, for an unknown component."""
    if recordings.COMPONENT.get(channel[-1:].upper()) is None:
        skipped["unknown_component"] += 1  # R/T, X/Y: the models read E, N and Z
        return None
    key = f"{net}.{sta}.{loc}.{channel[:-1]}"
    station = stations.setdefault(key, Station(key))
    station.channels.add(channel)
    return station


class FileArchive:
    """Recordings named by files, directories or globs; each file's header read once to index it."""

    format = None  # any format ObsPy recognises

    def __init__(self, paths: list[str], skipped: collections.Counter):
        obspy = recordings.import_obspy()
        files = find_files(paths)
        stations: dict[str, Station] = {}
        for path in files:
            try:
                headers = obspy.read(path, headonly=True)
            except Exception as e:  # ObsPy raises TypeError, ValueError, OSError, ... for what it cannot read
                skipped["unreadable_file"] += 1
                print(f"skipped {path}: ObsPy cannot read it ({_first_line(e)})")
                continue
            for trace in headers:
                s = trace.stats
                station = _add(stations, s.network, s.station, s.location, s.channel, skipped)
                if station:
                    station.spans.append((path, s.starttime.timestamp, s.endtime.timestamp))
        if not stations and files:
            raise UserError(f"{files[0]}: no readable recordings in the {len(files)} files given")
        self.stations = [stations[k] for k in sorted(stations)]

    def files(self, station: Station, start, end) -> list[str]:
        """The files holding any of station's samples between start and end (UTCDateTime), sorted."""
        return sorted(
            {p for p, first, last in station.spans if first <= end.timestamp and last >= start.timestamp}
        )

    def outside_its_day(self, path: str) -> bool:
        """A file named by the user has no day of its own."""
        return False

    def first_sample(self, station: Station, path: str) -> float:
        """The time (POSIX s) of path's first sample of the station, from its header."""
        return min(first for p, first, _ in station.spans if p == path)


class SdsArchive:
    """A SeisComP Data Structure (YEAR/NET/STA/CHAN.TYPE/NET.STA.LOC.CHAN.TYPE.YEAR.DAY), via ObsPy."""

    format = "MSEED"  # SDS holds MiniSEED: a file in another format is a bad day file
    _DAY = re.compile(r"\.(\d{4})\.(\d{3})$")  # a day file's name ends in its year and day of the year

    def __init__(self, root: str, skipped: collections.Counter):
        from obspy.clients.filesystem import sds

        recordings.import_obspy()
        if not os.path.isdir(root):
            raise UserError(f"--sds_root={root}: no such directory")
        self.client = sds.Client(root)
        stations: dict[str, Station] = {}
        for net, sta, loc, channel in self.client.get_all_nslc():
            _add(stations, net, sta, loc, channel, skipped)
        if not stations:
            raise UserError(
                f"--sds_root={root}: no day files in SDS's layout "
                "(YEAR/NET/STA/CHAN.D/NET.STA.LOC.CHAN.D.YEAR.DAY)"
            )
        self.stations = [stations[k] for k in sorted(stations)]

    def files(self, station: Station, start, end) -> list[str]:
        """The day files the SDS client names for station between start and end (UTCDateTime), sorted.

        The client's file lookup (`_get_filenames`) is what its get_waveforms
        reads; it is used directly so that each file is read, and named when
        bad, on its own.
        """
        net, sta, loc, _ = station.id.split(".")
        found = set()
        for channel in sorted(station.channels):
            found |= set(self.client._get_filenames(net, sta, loc, channel, start, end))
        return sorted(found)

    def first_sample(self, station: Station, path: str) -> float:
        """The start of the day a day file's name gives (POSIX s): where its samples should begin."""
        return self._day(path).timestamp

    def _day(self, path: str):
        match = self._DAY.search(path)
        return recordings.import_obspy().UTCDateTime(year=int(match[1]), julday=int(match[2]))

    def outside_its_day(self, path: str) -> bool:
        """Whether a day file's samples lie outside the day its name gives (beyond the client's border)."""
        headers = recordings.import_obspy().read(path, format=self.format, headonly=True)
        day = self._day(path)
        border = self.client.fileborder_seconds + 1.0
        return any(
            t.stats.endtime < day - border or t.stats.starttime > day + 86_400 + border for t in headers
        )


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


def select(stations: list[Station], patterns: tuple[str, ...]) -> list[Station]:
    """The stations matching any NET.STA[.LOC[.CHA]] pattern (shell wildcards; CHA matches any channel).

    No pattern selects every station; a pattern that matches none is one line.
    """
    if not patterns:
        return stations
    chosen = []
    for pattern in patterns:
        parts = pattern.split(".")
        if not 2 <= len(parts) <= 4:
            raise UserError(f"--stations={pattern}: give NET.STA, NET.STA.LOC or NET.STA.LOC.CHA")
        matched = [s for s in stations if _matches(s, parts)]
        if not matched:
            raise UserError(f"--stations={pattern}: matches none of the {len(stations)} stations")
        chosen += matched
    return [s for s in stations if s in chosen]


def _matches(station: Station, parts: list[str]) -> bool:
    net, sta, loc, _ = station.id.split(".")
    if not all(fnmatch.fnmatchcase(code, p) for code, p in zip((net, sta, loc), parts)):
        return False
    return len(parts) < 4 or any(fnmatch.fnmatchcase(c, parts[3]) for c in station.channels)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """The windows of one station that start within one chunk of time (a UTC day)."""

    index: int  # its place in the whole plan: the name of its output, the unit of shards
    station: Station = dataclasses.field(compare=False)
    origin: float  # the station's grid origin (POSIX s); window k starts origin + k * stride
    stride: int  # samples between window starts
    first: int  # k of its first window
    windows: int  # how many windows start within it
    plot_first: int  # k of the station's first window: where its figure starts
    plot_step: int  # samples per point of the station's figure
    last: bool  # the station's last chunk: its figure takes the tail of its last window

    def key(self) -> list:
        """What the chunk stands for: its station, grid and windows (a plan's digest is made of these)."""
        return [self.station.id, self.origin, self.stride, self.first, self.windows]

    def start(self, k: int) -> float:
        """Window k's start, POSIX seconds."""
        return self.origin + k * self.stride / stead.SAMPLING_RATE_HZ

    def end(self) -> float:
        """Its last window's end, POSIX seconds."""
        return self.start(self.first + self.windows - 1) + (stead.TRACE_SAMPLES - 1) / stead.SAMPLING_RATE_HZ

    def day(self) -> str:
        """The UTC day of its first window (2024-03-01), as lines name it."""
        return (
            datetime.datetime.fromtimestamp(self.start(self.first), datetime.timezone.utc).date().isoformat()
        )

    @property
    def samples(self) -> int:
        """Samples its windows span, from its first window's start to its last one's end."""
        return (self.windows - 1) * self.stride + stead.TRACE_SAMPLES


_FIGURE_POINTS = 4000  # min/max pairs drawn per station


def plan(
    stations: list[Station],
    start: float | None,
    end: float | None,
    stride: int,
    chunk_seconds: float = CHUNK_SECONDS,
) -> list[Chunk]:
    """Every station's chunks, station after station, in time order.

    start, end: the range (POSIX s) whose windows start within it; None: the
    station's first sample, and its last window that ends by its last sample
    (a station with no indexed span needs both). A station with files is
    also held to their span. stride: samples between window starts.
    """
    chunks = []
    for station in stations:
        extent = station.extent()
        origin = start if start is not None else extent[0]
        lo, hi = 0, math.inf
        if end is not None:
            hi = _first_window_from(end, origin, stride) - 1
        if extent:
            lo = _first_window_from(extent[0], origin, stride)
            last_start = _samples_after(extent[1], origin) + 1 - stead.TRACE_SAMPLES
            hi = min(hi, math.floor(last_start / stride))
        if hi < lo:
            continue
        step = max(1, ((hi - lo) * stride + stead.TRACE_SAMPLES) // _FIGURE_POINTS)
        day = math.floor((origin + lo * stride / stead.SAMPLING_RATE_HZ) / chunk_seconds) * chunk_seconds
        while True:
            first = max(lo, _first_window_from(day, origin, stride))
            last = min(hi, _first_window_from(day + chunk_seconds, origin, stride) - 1)
            if first <= last:
                chunks.append(
                    Chunk(len(chunks), station, origin, stride, first, last - first + 1, lo, step, last == hi)
                )
            if last >= hi:
                break
            day += chunk_seconds
    return chunks


def _samples_after(t: float, origin: float) -> float:
    """Samples from origin to t (POSIX s), to a thousandth of a sample: that absorbs the rounding of times
    near 1.7e9 s, so a time on the sample grid is exactly its sample."""
    return round((t - origin) * stead.SAMPLING_RATE_HZ, 3)


def _first_window_from(t: float, origin: float, stride: int) -> int:
    """k of the first window of the grid that starts at or after t."""
    return max(0, math.ceil(_samples_after(t, origin) / stride))


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
