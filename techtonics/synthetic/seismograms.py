"""The physics behind the synthetic recordings: stations, their noise, and earthquake signals.

- noise: station-dependent coloured background (microseism peak, a slope, a
  cultural band) with spikes, gaps and emergent bursts;
- earthquakes: causal P and S arrivals at the given samples (S-P time grows
  with hypocentral distance), a velocity Brune spectrum whose corner frequency
  falls with magnitude, anelastic attenuation of high frequencies with
  distance, and a coda that decays to the noise level at the coda end.
Shared by the synthetic STEAD (generator.py) and the continuous recordings
(stream.py). Arrays are (samples, 3) in STEAD's E/N/Z column order.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from techtonics.data import stead
from techtonics.synthetic import reference

N_STATIONS = 60
REGION_CENTER = (35.5, -117.5)  # lat, lon (deg)
REGION_HALF_WIDTH_DEG = 1.5
VP_KM_S, VS_KM_S = 6.0, 3.46
Q_FACTOR = 400.0
EARTH_RADIUS_KM = 6371.0
KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0
NETWORKS = ("CI", "NC", "TA", "AZ", "NN", "UW")

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


def _receiver_types(count: int) -> list[str]:
    """Instrument types in STEAD's shares, by quota, so that even 60 stations hold them exactly."""
    shares = reference.RECEIVER_TYPE.shares
    bounds = np.cumsum(list(shares.values())) / sum(shares.values())
    return [list(shares)[int(np.searchsorted(bounds, (i + 0.5) / count))] for i in range(count)]


def make_stations(seed: int) -> list[Station]:
    """The station network for a seed."""
    rng = np.random.default_rng([seed, 0])
    quota = _receiver_types(N_STATIONS)
    types = [quota[k] for k in rng.permutation(N_STATIONS)]
    stations = []
    for i in range(N_STATIONS):
        stations.append(
            Station(
                network=NETWORKS[i % len(NETWORKS)],
                code=f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}{i:02d}",
                receiver_type=types[i],
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


def background_noise(rng: np.random.Generator, station: Station, level: float) -> np.ndarray:
    """Three components (6000, 3) of the station's coloured noise, `level` counts rms above 1 Hz."""
    white = rng.standard_normal((2, 3, _FREQ.size), np.float32)  # float32 draws: half the cost
    white = white[0] + 1j * white[1]
    traces = np.fft.irfft(white * _noise_spectrum(station), _N, axis=1)
    # irfft of unit complex white noise has rms sqrt(2/N) per unit of spectrum.
    traces *= level / math.sqrt(2.0 / _N) / math.sqrt(2.0)
    gains = np.array([1.0, 1.0, 0.8]) * np.exp(rng.normal(0.0, 0.1, 3))  # E, N, Z
    return (traces * gains[:, None]).T


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


def add_transients(
    rng: np.random.Generator, traces: np.ndarray, level: float, keep: tuple[tuple[int, int], ...] = ()
) -> None:
    """Adds the non-seismic events of real records, in place: bursts, spikes, gaps.

    keep: sample ranges [start, end) no gap may touch: an earthquake's SNR
    windows, where zeros would make STEAD's SNR -250 dB or +260 dB, values no
    STEAD trace has. The draws are the same either way, so every other trace
    is as before.
    """
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
        if not any(start < end and begin < start + length for begin, end in keep):
            traces[start : start + length] = 0.0


def distance_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km; lat2/lon2 may be arrays."""
    p1, p2 = np.radians(lat1), np.radians(np.asarray(lat2))
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def azimuth_deg(lat1, lon1, lat2, lon2) -> float:
    """Azimuth from point 1 to point 2, degrees clockwise from north."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(lat: float, lon: float, km: float, azimuth: float) -> tuple[float, float]:
    """The point `km` along the great circle from (lat, lon) at `azimuth` degrees."""
    p1, l1, d, a = math.radians(lat), math.radians(lon), km / EARTH_RADIUS_KM, math.radians(azimuth)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(a))
    l2 = l1 + math.atan2(math.sin(a) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def log_peak_amplitude(magnitude, hypocentral_km):
    """log10 of the S-wave peak in counts from a Hutton-Boore-like local magnitude relation (arrays too)."""
    return magnitude - 1.11 * np.log10(hypocentral_km) - 0.00189 * np.asarray(hypocentral_km) + 2.4


def s_arrival_sample(p_sample: float, hypocentral_km: float) -> float:
    """Where S arrives, from P's sample and the S-P delay at this distance."""
    return p_sample + hypocentral_km * (1 / VS_KM_S - 1 / VP_KM_S) * stead.SAMPLING_RATE_HZ


SNR_WINDOW = 400  # samples: STEAD's "short window" after S and before P


def snr_windows(p_sample: float, s_sample: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """The [start, end) sample ranges STEAD's SNR compares: before P (noise) and after S (signal)."""
    p, s = int(p_sample), int(s_sample)
    return (max(p - SNR_WINDOW, 0), p), (s, s + SNR_WINDOW)


def measure_snr_db(traces: np.ndarray, p_sample: float, s_sample: float) -> np.ndarray:
    """Per-channel SNR in dB as STEAD defines it: the 95th percentile of |amplitude| in a short
    window after S over that in a short window before P, 20 log10 of the ratio."""
    (noise_start, p), (s, signal_end) = snr_windows(p_sample, s_sample)
    noise = np.percentile(np.abs(traces[noise_start:p]), 95, axis=0)
    signal = np.percentile(np.abs(traces[s:signal_end]), 95, axis=0)
    return 20.0 * np.log10(np.maximum(signal, 1e-12) / np.maximum(noise, 1e-12))


def event_signal(rng, magnitude, hypocentral_km, back_azimuth, p_sample, s_amplitude, noise_level):
    """The earthquake alone, (6000, 3) E/N/Z counts, with its S pick and coda end (samples).

    rng: random draws (corner-frequency scatter and the waveforms); magnitude;
    hypocentral_km: the source's distance; back_azimuth: degrees from the
    station to the source (splits S between E and N); p_sample: the P arrival;
    s_amplitude: the S peak (counts); noise_level: the noise rms (counts),
    where the coda is taken to end.
    """
    hypocentral = max(hypocentral_km, 1.0)
    s_sample = s_arrival_sample(p_sample, hypocentral)
    corner_hz = 10 ** (1.25 - 0.4 * (magnitude - 1.0) + rng.normal(0.0, 0.08))
    tstar = hypocentral / (Q_FACTOR * VS_KM_S)
    # The coda's end after S, a fit to the 100 real rows: about 10 s, barely growing with magnitude.
    duration_s = 10 ** (0.92 + 0.06 * magnitude - 0.034 * math.log10(hypocentral) + rng.normal(0.0, 0.18))
    coda_decay_s = duration_s / max(math.log(s_amplitude / noise_level), 1.0)
    coda_end = min(s_sample + duration_s * stead.SAMPLING_RATE_HZ, _N - 1)
    # P is strongest on the vertical, S on the horizontals; the horizontal
    # split follows the direction of arrival (E/N/Z order).
    baz = math.radians(back_azimuth)
    radial = np.array([abs(math.sin(baz)), abs(math.cos(baz)), 0.0])
    phases = (
        (p_sample, 0.05, 0.4 * coda_decay_s, rng.uniform(0.15, 0.5), radial * 0.5 + [0, 0, 1.0], 1.3),
        (s_sample, 0.3 + 0.01 * hypocentral, coda_decay_s, 1.0, radial[[1, 0, 2]] + [0.3, 0.3, 0.55], 1.0),
    )
    signal = np.zeros(stead.WAVEFORM_SHAPE)
    for onset, rise_s, decay_s, relative, weights, fc_scale in phases:
        envelope = _onset_envelope(onset, rise_s, decay_s)
        components = _band_limited(rng, envelope, corner_hz * fc_scale, tstar, components=3)
        signal += (s_amplitude * relative * np.asarray(weights)[:, None] * components).T
    return signal, s_sample, coda_end
