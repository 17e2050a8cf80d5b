"""A synthetic STEAD, written in exactly the real files' layout.

    python -m techtonics.synthetic --output_dir=DIR --earthquakes=N --noise=M --seed=S

writes chunk1.csv/.hdf5 (noise) and chunk2.csv/.hdf5 (earthquakes), or one
merged pair with --merged. The real data cannot be downloaded here, so every
test and the demo run on this; the rest of the project runs unchanged on real
STEAD.

The waveforms are meant to make the learning problem real:
- noise: station-dependent coloured background (microseism peak, a slope, a
  cultural band) with spikes, gaps and emergent bursts, at levels that vary
  twenty-fold between stations, so absolute amplitude says little;
- earthquakes: causal P and S arrivals at the recorded samples (S-P time grows
  with hypocentral distance), a velocity Brune spectrum whose corner frequency
  falls with magnitude, amplitude from a local-magnitude relation, anelastic
  attenuation of high frequencies with distance, and a coda that decays to the
  noise level at `coda_end_sample`. Picks are kept with a detection
  probability that falls with SNR, so a few quakes are buried in noise.
Metadata follow from the waveforms and the geometry: snr_db is measured on
the trace, distances and back azimuths come from station and event
coordinates, and one event is recorded at several stations (shared source_id).

Output is deterministic for a seed, whatever the number of worker processes:
traces are generated in fixed blocks, each from its own seeded generator, and
written in block order. Memory is bounded by a few blocks, whatever N is.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import math
import os

import h5py
import numpy as np
from absl import flags

from techtonics import errors, fileio, stead, workers
from techtonics.errors import UserError

BLOCK_TRACES = 200
N_STATIONS = 60
REGION_CENTER = (35.5, -117.5)  # lat, lon (deg)
REGION_HALF_WIDTH_DEG = 1.5
MAX_DISTANCE_KM = 110.0
VP_KM_S, VS_KM_S = 6.0, 3.46
Q_FACTOR = 400.0
EARTH_RADIUS_KM = 6371.0
KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0
EARTHQUAKE_EPOCH = datetime.datetime(2000, 1, 1)
NOISE_EPOCH = datetime.datetime(2015, 1, 1)
NETWORKS = ("CI", "NC", "TA", "AZ", "NN", "UW")
RECEIVER_TYPES = ("HH", "BH", "EH", "HN")

_N = stead.TRACE_SAMPLES
_DT = 1.0 / stead.SAMPLING_RATE_HZ
_FREQ = np.fft.rfftfreq(_N, _DT)
_FREQ_PADDED = np.fft.rfftfreq(2 * _N, _DT)  # zero padding keeps causal filters from wrapping
_SAMPLE = np.arange(_N)


@dataclasses.dataclass(frozen=True)
class Station:
    """A recording station and the character of its background noise."""

    network: str
    code: str
    receiver_type: str
    latitude: float
    longitude: float
    elevation_m: float
    noise_counts: float  # rms of the noise above 1 Hz, in counts
    microseism_hz: float
    microseism_gain: float
    slope: float
    cultural_hz: float
    cultural_gain: float


def make_stations(seed: int) -> list[Station]:
    """The station network for a seed."""
    rng = np.random.default_rng([seed, 0])
    stations = []
    for i in range(N_STATIONS):
        network = NETWORKS[i % len(NETWORKS)]
        stations.append(
            Station(
                network=network,
                code=f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}{i:02d}",
                receiver_type=RECEIVER_TYPES[rng.integers(len(RECEIVER_TYPES))],
                latitude=round(REGION_CENTER[0] + rng.uniform(-1, 1) * REGION_HALF_WIDTH_DEG, 4),
                longitude=round(REGION_CENTER[1] + rng.uniform(-1, 1) * REGION_HALF_WIDTH_DEG, 4),
                elevation_m=round(float(rng.uniform(-50, 2500)), 1),
                noise_counts=float(10 ** rng.uniform(0.3, 1.6)),
                microseism_hz=float(rng.uniform(0.12, 0.3)),
                microseism_gain=float(10 ** rng.uniform(0.5, 1.5)),
                slope=float(rng.uniform(0.3, 1.2)),
                cultural_hz=float(rng.uniform(2.0, 15.0)),
                cultural_gain=float(10 ** rng.uniform(-0.5, 0.7)),
            )
        )
    return stations


def noise_shape(station: Station, freq: np.ndarray) -> np.ndarray:
    """The station's noise amplitude spectrum at `freq` (Hz): unit rms above 1 Hz, plus the microseism."""
    f = np.maximum(freq, 1e-3)
    shape = (f + 0.3) ** -station.slope + station.cultural_gain * np.exp(
        -0.5 * ((f - station.cultural_hz) / (0.3 * station.cultural_hz)) ** 2
    )
    high = freq > 1.0
    shape /= np.sqrt(np.mean(shape[high] ** 2))  # unit rms above 1 Hz, where detection happens
    shape += station.microseism_gain * np.exp(-0.5 * (np.log(f / station.microseism_hz) / 0.3) ** 2)
    shape[0] = 0.0
    return shape


@functools.lru_cache(maxsize=N_STATIONS)
def _noise_spectrum(station: Station) -> np.ndarray:
    return noise_shape(station, _FREQ)


def background_noise(rng: np.random.Generator, station: Station) -> tuple[np.ndarray, float]:
    """Three components of the station's coloured noise and its level above 1 Hz (counts)."""
    level = station.noise_counts * float(np.exp(rng.normal(0.0, 0.25)))
    white = rng.standard_normal((2, 3, _FREQ.size), np.float32)  # float32 draws: half the cost
    white = white[0] + 1j * white[1]
    traces = np.fft.irfft(white * _noise_spectrum(station), _N, axis=1)
    # irfft of unit complex white noise has rms sqrt(2/N) per unit of spectrum.
    traces *= level / math.sqrt(2.0 / _N) / math.sqrt(2.0)
    gains = np.array([1.0, 1.0, 0.8]) * np.exp(rng.normal(0.0, 0.1, 3))  # E, N, Z
    return (traces * gains[:, None]).T, level


def _band_limited(
    rng: np.random.Generator, envelope: np.ndarray, corner_hz: float, tstar: float, components: int = 1
) -> np.ndarray:
    """`components` rows of enveloped white noise through a causal velocity Brune filter, peak 1 each.

    H(f) = (if/fc) / (1 + if/fc)^2 has a causal impulse response, so no energy
    leaks before the onset; anelastic attenuation exp(-pi f t*) removes high
    frequencies with distance. The rows share one filter and one FFT call.
    """
    spectrum = np.fft.rfft(rng.standard_normal((components, _N), np.float32) * envelope, 2 * _N, axis=1)
    x = 1j * _FREQ_PADDED / corner_hz
    response = x / (1.0 + x) ** 2 * np.exp(-math.pi * _FREQ_PADDED * tstar)
    signal = np.fft.irfft(spectrum * response, 2 * _N, axis=1)[:, :_N]
    peak = np.abs(signal).max(axis=1, keepdims=True)
    return signal / np.where(peak > 0, peak, 1.0)


def _onset_envelope(onset: float, rise_s: float, decay_s: float) -> np.ndarray:
    t = (_SAMPLE - onset) * _DT
    after = t >= 0
    envelope = np.zeros(_N)
    envelope[after] = (1.0 - np.exp(-t[after] / rise_s)) * np.exp(-t[after] / decay_s)
    return envelope


def add_transients(rng: np.random.Generator, traces: np.ndarray, level: float) -> None:
    """Adds the non-seismic events of real records, in place: bursts, spikes, gaps."""
    if rng.random() < 0.15:  # emergent, symmetric burst (traffic, wind, machinery)
        length = int(rng.uniform(2.0, 15.0) * stead.SAMPLING_RATE_HZ)
        start = int(rng.integers(0, _N - length))
        envelope = np.zeros(_N)
        envelope[start : start + length] = np.hanning(length)
        amplitude = level * 10 ** rng.uniform(0.5, 1.5)
        for c in range(3):
            traces[:, c] += (
                amplitude
                * rng.uniform(0.3, 1.0)
                * _band_limited(rng, envelope, rng.uniform(3.0, 20.0), 0.0)[0]
            )
    if rng.random() < 0.08:  # spikes of one to three samples on one component
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, _N - 3))
            width = int(rng.integers(1, 4))
            traces[at : at + width, rng.integers(3)] += (
                level * 10 ** rng.uniform(1.0, 2.5) * rng.choice([-1, 1])
            )
    if rng.random() < 0.03:  # telemetry gap, written as zeros
        length = int(rng.integers(100, 2000))
        start = int(rng.integers(0, _N - length))
        traces[start : start + length] = 0.0


def _distance_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; lat2/lon2 may be arrays."""
    p1, p2 = np.radians(lat1), np.radians(np.asarray(lat2))
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _azimuth_deg(lat1, lon1, lat2, lon2):
    """Azimuth from point 1 to point 2, degrees clockwise from north."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _peak_amplitude_counts(magnitude: float, hypocentral_km: float) -> float:
    """S-wave peak in counts from a Hutton-Boore-like local magnitude relation."""
    return 10 ** (magnitude - 1.11 * math.log10(hypocentral_km) - 0.00189 * hypocentral_km + 2.4)


def measure_snr_db(traces: np.ndarray, p_sample: int, window: int = 400) -> np.ndarray:
    """Per-component SNR in dB: power after the P pick over power before it."""
    w = min(window, p_sample, _N - p_sample)
    noise = np.mean(traces[p_sample - w : p_sample] ** 2, axis=0)
    signal = np.mean(traces[p_sample : p_sample + w] ** 2, axis=0)
    return 10.0 * np.log10(np.maximum(signal, 1e-12) / np.maximum(noise, 1e-12))


def _time_text(t: datetime.datetime, decimals: int) -> str:
    text = t.strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[: len(text) - 6 + decimals]


def _trace_name(station: Station, start: datetime.datetime, category: str) -> str:
    stamp = (start - datetime.timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
    return f"{station.code}.{station.network}_{stamp}{stead.TRACE_NAME_SUFFIX[category]}"


def _station_fields(station: Station) -> dict:
    return {
        "network_code": station.network,
        "receiver_code": station.code,
        "receiver_type": station.receiver_type,
        "receiver_latitude": station.latitude,
        "receiver_longitude": station.longitude,
        "receiver_elevation_m": station.elevation_m,
    }


def noise_block(seed: int, block: int, count: int, stations: list[Station]):
    """`count` noise traces: (rows of typed metadata, waveforms (count, 6000, 3))."""
    rng = np.random.default_rng([seed, 1, block])
    rows, waveforms = [], np.empty((count, *stead.WAVEFORM_SHAPE), np.float32)
    for i in range(count):
        station = stations[rng.integers(len(stations))]
        traces, level = background_noise(rng, station)
        add_transients(rng, traces, level)
        hours = (block * BLOCK_TRACES + i) * 3600.0 + rng.uniform(0, 3000)
        start = NOISE_EPOCH + datetime.timedelta(seconds=round(hours, 2))
        rows.append(
            {
                **_station_fields(station),
                "trace_start_time": _time_text(start, 6),
                "trace_category": stead.NOISE_CATEGORY,
                "trace_name": _trace_name(station, start, stead.NOISE_CATEGORY),
            }
        )
        waveforms[i] = traces
    return rows, waveforms


def _draw_event(rng: np.random.Generator, stations: list[Station]):
    """An event and the stations that picked it, nearest first."""
    while True:
        lat = REGION_CENTER[0] + rng.uniform(-1, 1) * REGION_HALF_WIDTH_DEG
        lon = REGION_CENTER[1] + rng.uniform(-1, 1) * REGION_HALF_WIDTH_DEG
        depth = float(np.clip(rng.gamma(2.5, 3.5), 0.2, 30.0))
        magnitude = round(float(np.clip(rng.normal(0.9, 1.2), -0.5, 5.8)), 1)
        distances = _distance_km(lat, lon, [s.latitude for s in stations], [s.longitude for s in stations])
        near = np.flatnonzero(distances <= MAX_DISTANCE_KM)
        if near.size == 0:
            continue
        chosen = rng.choice(near, size=min(int(rng.integers(1, 7)), near.size), replace=False)
        picked = []
        for k in chosen[np.argsort(distances[chosen])]:
            hypocentral = math.hypot(distances[k], depth)
            expected_snr_db = 20 * math.log10(
                0.3 * _peak_amplitude_counts(magnitude, hypocentral) / stations[k].noise_counts
            )
            if rng.random() < 1.0 / (1.0 + math.exp(-(expected_snr_db - 6.0) / 2.5)):
                picked.append((stations[k], float(distances[k])))
        if picked:
            return lat, lon, depth, magnitude, picked


def earthquake_trace(rng, station, magnitude, epicentral_km, depth_km, back_azimuth, p_sample):
    """Waveform (6000, 3), S pick and coda end of one event at one station.

    rng: the block's random generator (noise, amplitude and corner-frequency
    scatter); station: where it is recorded (its noise and instrument);
    magnitude; epicentral_km and depth_km: the source's distance and depth;
    back_azimuth: degrees from the station to the source (splits S between E
    and N); p_sample: the P arrival, in samples from the trace start.
    """
    traces, level = background_noise(rng, station)
    signal, s_sample, coda_end = event_signal(
        rng, magnitude, epicentral_km, depth_km, back_azimuth, p_sample, level
    )
    traces += signal
    add_transients(rng, traces, level)
    return traces, s_sample, coda_end


def event_signal(rng, magnitude, epicentral_km, depth_km, back_azimuth, p_sample, noise_level):
    """The earthquake alone, (6000, 3) E/N/Z counts, with its S pick and coda end (samples).

    Arguments as earthquake_trace's; noise_level: the station's noise level
    (counts), where the coda is taken to end.
    """
    hypocentral = max(math.hypot(epicentral_km, depth_km), 1.0)
    s_sample = p_sample + hypocentral * (1 / VS_KM_S - 1 / VP_KM_S) * stead.SAMPLING_RATE_HZ
    s_amplitude = _peak_amplitude_counts(magnitude, hypocentral) * 10 ** rng.normal(0.0, 0.15)
    corner_hz = 10 ** (1.25 - 0.4 * (magnitude - 1.0) + rng.normal(0.0, 0.08))
    tstar = hypocentral / (Q_FACTOR * VS_KM_S)
    duration_s = 10 ** (0.45 * magnitude + 0.1)  # coda duration to the noise level
    coda_decay_s = duration_s / max(math.log(s_amplitude / noise_level), 1.0)
    coda_end = min(s_sample + duration_s * stead.SAMPLING_RATE_HZ, _N - 1)
    # P is strongest on the vertical, S on the horizontals; the horizontal
    # split follows the direction of arrival (E/N/Z order).
    baz = math.radians(back_azimuth)
    radial = np.array([abs(math.sin(baz)), abs(math.cos(baz)), 0.0])
    phases = (
        (p_sample, 0.05, 0.4 * coda_decay_s, rng.uniform(0.15, 0.5), radial * 0.5 + [0, 0, 1.0], 1.3),
        (s_sample, 0.3 + 0.01 * hypocentral, coda_decay_s, 1.0, radial[[1, 0, 2]] + [0.3, 0.3, 0.3], 1.0),
    )
    signal = np.zeros(stead.WAVEFORM_SHAPE)
    for onset, rise_s, decay_s, relative, weights, fc_scale in phases:
        envelope = _onset_envelope(onset, rise_s, decay_s)
        components = _band_limited(rng, envelope, corner_hz * fc_scale, tstar, components=3)
        signal += (s_amplitude * relative * np.asarray(weights)[:, None] * components).T
    return signal, s_sample, coda_end


def earthquake_block(seed: int, block: int, count: int, stations: list[Station]):
    """`count` earthquake traces: (rows of typed metadata, waveforms (count, 6000, 3))."""
    rng = np.random.default_rng([seed, 2, block])
    rows, waveforms = [], np.empty((count, *stead.WAVEFORM_SHAPE), np.float32)
    event = 0
    while len(rows) < count:
        lat, lon, depth, magnitude, picked = _draw_event(rng, stations)
        seconds = (block * BLOCK_TRACES + event) * 900.0 + rng.uniform(0, 300)
        origin = EARTHQUAKE_EPOCH + datetime.timedelta(seconds=round(seconds, 2))
        source_id = (
            int(rng.integers(10**7, 10**8))
            if rng.random() < 0.5
            else f"{rng.choice(['nc', 'ci', 'uw'])}{rng.integers(10**7, 10**8)}"
        )
        magnitude_type = (
            "md" if magnitude < 1.0 else ("ml" if magnitude < 4.0 else str(rng.choice(["mb", "mw"])))
        )
        for station, epicentral_km in picked[: count - len(rows)]:
            back_azimuth = round(_azimuth_deg(station.latitude, station.longitude, lat, lon), 1)
            p_sample = int(rng.integers(400, 1500))
            traces, s_sample, coda_end = earthquake_trace(
                rng, station, magnitude, epicentral_km, depth, back_azimuth, p_sample
            )
            waveforms[len(rows)] = traces
            p_travel = math.hypot(epicentral_km, depth) / VP_KM_S
            start = origin + datetime.timedelta(seconds=round(p_travel - p_sample * _DT, 2))
            rows.append(
                {
                    **_station_fields(station),
                    "p_arrival_sample": float(p_sample),
                    "p_status": str(rng.choice(["manual", "automatic", "autopicker"], p=[0.7, 0.2, 0.1])),
                    "p_weight": round(float(rng.uniform(0.5, 1.0)), 2),
                    "p_travel_sec": float(f"{np.float32(p_travel):.12g}"),  # STEAD's float32, 12 digits
                    "s_arrival_sample": float(round(s_sample)),
                    "s_status": str(rng.choice(["manual", "autopicker"], p=[0.7, 0.3])),
                    "s_weight": round(float(rng.uniform(0.5, 1.0)), 2),
                    "source_id": source_id,
                    "source_origin_time": _time_text(origin, 2),
                    "source_origin_uncertainty_sec": round(float(rng.uniform(0.1, 0.8)), 2),
                    "source_latitude": round(lat, 4),
                    "source_longitude": round(lon, 4),
                    "source_error_sec": round(float(rng.uniform(0.1, 1.5)), 4),
                    "source_gap_deg": round(float(rng.uniform(20, 250)), 3),
                    "source_horizontal_uncertainty_km": round(float(rng.uniform(0.2, 6.0)), 4),
                    "source_depth_km": round(depth, 2),
                    "source_depth_uncertainty_km": round(float(rng.uniform(0.3, 2.0)), 2)
                    if rng.random() < 0.5
                    else None,
                    "source_magnitude": magnitude,
                    "source_magnitude_type": magnitude_type,
                    "source_magnitude_author": station.network if rng.random() < 0.5 else None,
                    "source_mechanism_strike_dip_rake": None,
                    "source_distance_deg": round(epicentral_km / KM_PER_DEG, 2),
                    "source_distance_km": round(epicentral_km, 2),
                    "back_azimuth_deg": back_azimuth,
                    "snr_db": np.round(
                        measure_snr_db(traces, p_sample).astype(np.float32).astype(np.float64), 8
                    ),  # as the CSV prints it
                    "coda_end_sample": float(round(coda_end)),
                    "trace_start_time": _time_text(start, 6),
                    "trace_category": stead.EARTHQUAKE_CATEGORY,
                    "trace_name": _trace_name(station, start, stead.EARTHQUAKE_CATEGORY),
                }
            )
        event += 1
    return rows, waveforms


def _csv_text(column: str, value, category: str) -> str:
    """A value as the real CSV writes it."""
    if value is None:
        # Real noise rows leave the event columns empty; earthquakes write None.
        return "" if category == stead.NOISE_CATEGORY else stead.MISSING
    if column == stead.SNR_COLUMN:
        return np.array2string(np.asarray(value), legacy="1.13")
    if column == stead.CODA_COLUMN:
        return np.array2string(np.array([[value]]), legacy="1.13")
    return str(value)


def _hdf5_attribute(column: str, value):
    """A value as the real HDF5 attributes hold it (string 'None' when missing)."""
    if value is None:
        return stead.MISSING
    if column == stead.SNR_COLUMN:
        return np.asarray(value, dtype=np.float64)
    if column == stead.CODA_COLUMN:
        return np.array([[value]], dtype=np.float64)
    return value


def _block(args):
    kind, seed, block, count = args
    make = noise_block if kind == stead.NOISE_CATEGORY else earthquake_block
    return make(seed, block, count, make_stations(seed))


def _blocks(kind: str, total: int, seed: int) -> list[tuple]:
    return [
        (kind, seed, b, min(BLOCK_TRACES, total - b * BLOCK_TRACES)) for b in range(-(-total // BLOCK_TRACES))
    ]


class _TraceWriter:
    """Writes traces into a STEAD HDF5 group with h5py's low-level API.

    h5py's `attrs[name] = value` creates every attribute under a temporary
    name and renames it; with 35 attributes a trace that made the writer the
    generator's bottleneck (about 4 ms a trace; 0.7 ms this way, the
    waveform included). The types
    are h5py's own: variable-length UTF-8 strings, float64, int64.
    """

    def __init__(self, group: h5py.Group):
        self._group = group.id
        self._waveform_type = h5py.h5t.py_create(stead.WAVEFORM_DTYPE)
        self._waveform_space = h5py.h5s.create_simple(stead.WAVEFORM_SHAPE)
        self._dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        self._dcpl.set_obj_track_times(False)  # same seed, same bytes
        text = h5py.string_dtype()
        self._text = (text, h5py.h5t.py_create(text, logical=True), h5py.h5t.py_create(text))
        self._spaces = {(): h5py.h5s.create(h5py.h5s.SCALAR)}

    def _space(self, shape: tuple[int, ...]):
        if shape not in self._spaces:
            self._spaces[shape] = h5py.h5s.create_simple(shape)
        return self._spaces[shape]

    def write(self, name: str, waveform: np.ndarray, attributes: dict) -> None:
        """One dataset `name` holding the waveform, with one attribute per item."""
        dataset = h5py.h5d.create(
            self._group, name.encode(), self._waveform_type, self._waveform_space, dcpl=self._dcpl
        )
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(waveform, stead.WAVEFORM_DTYPE))
        for key, value in attributes.items():
            if isinstance(value, str):
                array, file_type, memory_type = np.array(value, self._text[0]), self._text[1], self._text[2]
            else:
                array = np.asarray(value)
                file_type = memory_type = h5py.h5t.py_create(array.dtype)
            attribute = h5py.h5a.create(dataset, key.encode(), file_type, self._space(array.shape))
            attribute.write(array, mtype=memory_type)


def _write_pair(pair: stead.SteadPair, blocks) -> int:
    """Writes generated blocks as one CSV + HDF5 pair, atomically; returns the trace count."""
    hdf5_tmp, csv_tmp = fileio.temporary_path(pair.hdf5), fileio.temporary_path(pair.csv)
    written = 0
    try:
        with h5py.File(hdf5_tmp, "w") as h5, open(csv_tmp, "w", newline="") as csv_file:
            traces = _TraceWriter(h5.create_group(stead.HDF5_GROUP))
            writer = csv.writer(csv_file, lineterminator="\n")
            writer.writerow(stead.COLUMNS)
            for rows, waveforms in blocks:
                for row, waveform in zip(rows, waveforms):
                    category = row["trace_category"]
                    values = [row.get(c) for c in stead.COLUMNS]
                    writer.writerow([_csv_text(c, v, category) for c, v in zip(stead.COLUMNS, values)])
                    attributes = {c: _hdf5_attribute(c, v) for c, v in zip(stead.COLUMNS, values)}
                    traces.write(row["trace_name"], waveform, attributes)
                    written += 1
        # The HDF5 file is renamed first: a CSV on disk always has its waveforms.
        fileio.rename(hdf5_tmp, pair.hdf5)
        fileio.rename(csv_tmp, pair.csv)
    finally:
        fileio.remove(hdf5_tmp)
        fileio.remove(csv_tmp)
    return written


def write_synthetic_stead(
    output_dir: str,
    earthquakes: int,
    noise: int,
    seed: int = 0,
    merged: bool = False,
    num_workers: int | None = None,
    resume: bool = False,
) -> list[stead.SteadPair]:
    """Writes a synthetic STEAD and returns its CSV/HDF5 pairs.

    chunk1 holds the noise and chunk2 the earthquakes (a chunk with no traces
    is not written), or merged.csv/.hdf5 holds both with `merged=True`.
    num_workers: generating processes (default: all cores). resume: keep a
    pair already on disk (each is written atomically, so one that is there
    is complete) and write only the missing ones.
    """
    if earthquakes < 0 or noise < 0 or earthquakes + noise == 0:
        raise UserError(f"need a positive number of traces, got earthquakes={earthquakes}, noise={noise}")
    os.makedirs(output_dir, exist_ok=True)
    noise_tasks = _blocks(stead.NOISE_CATEGORY, noise, seed)
    quake_tasks = _blocks(stead.EARTHQUAKE_CATEGORY, earthquakes, seed)
    if merged:
        jobs = [("merged", noise_tasks + quake_tasks)]
    else:
        jobs = [(name, tasks) for name, tasks in (("chunk1", noise_tasks), ("chunk2", quake_tasks)) if tasks]
    pairs = []
    with workers.Pool(num_workers or os.cpu_count() or 1) as pool:
        for name, tasks in jobs:
            pair = stead.SteadPair(
                os.path.join(output_dir, f"{name}.csv"), os.path.join(output_dir, f"{name}.hdf5")
            )
            if not (resume and os.path.exists(pair.csv) and os.path.exists(pair.hdf5)):
                _write_pair(pair, pool.imap(_block, tasks, ordered=True))
            pairs.append(pair)
    return pairs


def main(argv):
    """Command line: writes the synthetic STEAD and prints what it wrote."""
    del argv
    f = flags.FLAGS
    pairs = write_synthetic_stead(
        f.output_dir, f.earthquakes, f.noise, f.seed, f.merged, f.num_workers, f.resume
    )
    for pair in pairs:
        print(f"wrote {pair.csv} and {pair.hdf5}")


def define_flags() -> None:
    """The command line's flags; defined only when run as a program."""
    flags.DEFINE_string("output_dir", None, "Directory to write the STEAD files into.", required=True)
    flags.DEFINE_integer("earthquakes", 1000, "Number of earthquake traces.", lower_bound=0)
    flags.DEFINE_integer("noise", 1000, "Number of noise traces.", lower_bound=0)
    flags.DEFINE_integer("seed", 0, "Random seed; the same seed writes byte-identical files.")
    flags.DEFINE_bool("merged", False, "Write one merged.csv/.hdf5 pair instead of chunk1 and chunk2.")
    flags.DEFINE_integer("num_workers", None, "Worker processes (default: all cores).", lower_bound=1)
    flags.DEFINE_bool(
        "resume", False, "Keep pairs already written (a pair on disk is complete); write the rest."
    )


if __name__ == "__main__":
    define_flags()
    errors.run(main)
