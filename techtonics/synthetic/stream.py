"""A synthetic continuous recording as miniSEED: a station's noise for hours, with earthquakes at known times.

What the prediction command's tests, the demo and the benchmark run
detectors on. The noise is the station's (seismograms.py: its spectrum and
level), generated over the whole span in one FFT so it has no seams; each
earthquake is seismograms.event_signal, as loud as the synthetic STEAD makes
it, with its P arrival at a known second. Needs ObsPy (the `waveforms` extra).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from techtonics.core import fileio
from techtonics.data import stead
from techtonics.synthetic import generator, seismograms

START = "2024-01-01T00:00:00"
_ONSET_SAMPLE = 1000  # where the P arrival sits in the 60 s signal that is added


@dataclasses.dataclass(frozen=True)
class Event:
    """An earthquake in the recording: its P arrival (seconds after the start) and its source."""

    p_time_s: float
    magnitude: float = 3.0
    distance_km: float = 30.0
    depth_km: float = 10.0
    back_azimuth: float = 45.0


def waveforms(duration_s: float, events: list[Event], seed: int = 0, station_index: int = 0) -> np.ndarray:
    """(samples, 3) E/N/Z counts at 100 Hz: the station's noise with every event added.

    duration_s: the recording's length; events: the earthquakes in it; seed
    and station_index: which station of seismograms.make_stations(seed) records
    (its noise spectrum and level), and the random draws.
    """
    station = seismograms.make_stations(seed)[station_index]
    samples = int(round(duration_s * stead.SAMPLING_RATE_HZ))
    rng = np.random.default_rng([seed, 5, station_index])
    freq = np.fft.rfftfreq(samples, 1.0 / stead.SAMPLING_RATE_HZ)
    white = rng.standard_normal((3, freq.size)) + 1j * rng.standard_normal((3, freq.size))
    noise = np.fft.irfft(white * seismograms.noise_shape(station, freq), samples, axis=1)
    # As seismograms.background_noise: irfft of unit complex white noise has rms sqrt(2/N) per unit.
    noise *= station.noise_counts / math.sqrt(2.0 / samples) / math.sqrt(2.0)
    traces = (noise * np.array([1.0, 1.0, 0.8])[:, None]).T
    for event in events:
        hypocentral = math.hypot(event.distance_km, event.depth_km)
        signal, _, _ = seismograms.event_signal(
            rng,
            event.magnitude,
            hypocentral,
            event.back_azimuth,
            _ONSET_SAMPLE,
            generator.s_peak_counts(event.magnitude, hypocentral),
            station.noise_counts,
        )
        start = int(round(event.p_time_s * stead.SAMPLING_RATE_HZ)) - _ONSET_SAMPLE
        lo, hi = max(start, 0), min(start + len(signal), samples)
        traces[lo:hi] += signal[lo - start : hi - start]
    return traces.astype(np.float32)


def write_stream(
    path: str, duration_s: float, events: list[Event], seed: int = 0, station_index: int = 0
) -> str:
    """Writes `waveforms(duration_s, events, seed, station_index)` as one miniSEED file at path, atomically.

    Channels HHE, HHN and HHZ of the station's network and code, float32,
    starting at START.
    """
    import obspy

    station = seismograms.make_stations(seed)[station_index]
    data = waveforms(duration_s, events, seed, station_index)
    stream = obspy.Stream()
    for column, component in enumerate(stead.CHANNELS):
        header = {
            "network": station.network,
            "station": station.code,
            "channel": f"HH{component}",
            "sampling_rate": stead.SAMPLING_RATE_HZ,
            "starttime": obspy.UTCDateTime(START),
        }
        stream.append(obspy.Trace(np.ascontiguousarray(data[:, column]), header))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = fileio.temporary_path(path)
    try:
        stream.write(tmp, format="MSEED", encoding="FLOAT32")
        fileio.rename(tmp, path)
    finally:
        fileio.remove(tmp)
    return path
