"""A synthetic STEAD, written in exactly the real files' layout, drawn to look like the real one.

`write_synthetic_stead` (the command: `python -m techtonics.synthetic`)
writes chunk1.csv/.hdf5 (noise) and chunk2.csv/.hdf5 (earthquakes), or one
merged pair; writer.py writes them as the real files do. The real data
cannot be downloaded here, so every test and the demo run on this; the rest
of the project runs unchanged on real STEAD.

Magnitude, distance, depth, SNR, P placement, instrument types, magnitude
types and pick statuses follow the real STEAD (reference.py names the source
of each; tests/test_synthetic_distributions.py holds the generator to
them); the waveforms come from seismograms.py. Each trace's S amplitude
follows from magnitude and distance; its SNR is drawn from STEAD's, coupled
to that amplitude (bigger and nearer events get higher SNR), and the
background level follows from the two. Noise traces draw their level the
same way, so level alone cannot tell the classes apart. Metadata follow from
the waveforms and the geometry: snr_db is measured on the trace as STEAD
measures it, distances and back azimuths come from station and event
coordinates, and one event is recorded at several stations (shared source_id).
The `hard` profile keeps the earlier, harder mix for stress tests.

Output is deterministic for a seed, whatever the number of worker processes:
traces are generated in fixed blocks, each from its own seeded generator, and
written in block order. Memory is bounded by a few blocks, whatever N is.
"""

from __future__ import annotations

import datetime
import errno
import functools
import math
import os
import statistics

import numpy as np

from techtonics.core import fileio, pool
from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.synthetic import reference, seismograms, writer
from techtonics.synthetic.reference import DEPTH_KM, DISTANCE_KM, MAGNITUDE

BLOCK_TRACES = 200
EARTHQUAKE_EPOCH = datetime.datetime(2000, 1, 1)
NOISE_EPOCH = datetime.datetime(2015, 1, 1)
TRACES_PER_EVENT = 2.3  # STEAD: about 1,050,000 traces of about 450,000 earthquakes
NOISE_MEDIAN_COUNTS = 8.0  # where the original's image scale (-10 to 25 dB) shows noise mid-grey
SNR_COUPLING = 0.9  # correlation (Gaussian copula) between a trace's SNR and its log S amplitude
# Correlation (Gaussian copula) of magnitude and distance: small events are recorded only nearby.
# The real rows, one station, have a rank correlation of 0.45; this gives 0.48 over all stations.
DISTANCE_COUPLING = 0.6
_SNR_CALIBRATION_DB = 14.0  # S peak over the 95th percentile of |S + noise| and of |noise|

_N = stead.TRACE_SAMPLES
_DT = 1.0 / stead.SAMPLING_RATE_HZ
_LAST_S = _N - reference.S_AFTER_END_SAMPLES


_NORMAL = statistics.NormalDist()


def _hypocentral_km(epicentral_km, depth_km):
    return np.maximum(np.hypot(epicentral_km, np.maximum(depth_km, 0.0)), 1.0)


def _normal_scores(distribution: reference.Histogram, values) -> np.ndarray:
    """Where values sit in the distribution, as standard normal scores."""
    u = np.clip(distribution.cdf(values), 1e-9, 1 - 1e-9)
    return np.vectorize(_NORMAL.inv_cdf)(u)


def _distance_given_magnitude(rng: np.random.Generator, magnitude) -> np.ndarray:
    """Epicentral distances (km) drawn from STEAD's, coupled to the magnitudes given."""
    latent = DISTANCE_COUPLING * _normal_scores(MAGNITUDE, magnitude)
    latent = latent + math.sqrt(1 - DISTANCE_COUPLING**2) * rng.standard_normal(np.shape(latent))
    return DISTANCE_KM.quantile(np.vectorize(_NORMAL.cdf)(latent))


def _distance_weights(magnitude: float, distances: np.ndarray) -> np.ndarray:
    """Relative chance of recording this event at each distance: the coupled reference density.

    Divided by distance, the density of stations at that distance in a
    uniform network (a ring's circumference), so that the drawn stations'
    distances follow the reference rather than the network's geometry.
    """
    z_m, z_d = _normal_scores(MAGNITUDE, magnitude), _normal_scores(DISTANCE_KM, distances)
    rho = DISTANCE_COUPLING
    copula = np.exp(-(rho**2 * (z_m**2 + z_d**2) - 2 * rho * z_m * z_d) / (2 * (1 - rho**2)))
    return copula * DISTANCE_KM.density(distances) / np.maximum(distances, 1.0)


def _draw_source(rng: np.random.Generator) -> tuple[float, float, float]:
    """Magnitude, epicentral distance (km) to a first station, and depth (km) of an event."""
    magnitude = round(float(MAGNITUDE.sample(rng)), 1)
    return magnitude, float(_distance_given_magnitude(rng, magnitude)), round(float(DEPTH_KM.sample(rng)), 2)


@functools.cache
def _log_amplitude_scale() -> tuple[float, float]:
    """Mean and std of log10 S amplitude over STEAD's magnitudes, distances and depths (fixed draws)."""
    rng = np.random.default_rng(0)
    magnitude = MAGNITUDE.sample(rng, 20000)
    hypocentral = _hypocentral_km(_distance_given_magnitude(rng, magnitude), DEPTH_KM.sample(rng, 20000))
    log_amplitude = seismograms.log_peak_amplitude(magnitude, hypocentral)
    return float(np.mean(log_amplitude)), float(np.std(log_amplitude))


def _log_gain(profile: reference.Profile) -> float:
    """log10 counts per unit of the magnitude relation, so that the median background is typical."""
    mean, _ = _log_amplitude_scale()
    median_snr_db = float(profile.snr_db.quantile(0.5))
    return math.log10(NOISE_MEDIAN_COUNTS) - mean + (median_snr_db + _SNR_CALIBRATION_DB) / 20.0


def s_peak_counts(magnitude: float, hypocentral_km: float, profile_name: str = "stead") -> float:
    """The S peak (counts) the synthetic STEAD gives an event at a distance, before scatter."""
    gain = _log_gain(reference.PROFILES[profile_name])
    return 10 ** (seismograms.log_peak_amplitude(magnitude, hypocentral_km) + gain)


def trace_levels(rng, profile: reference.Profile, magnitude: float, hypocentral_km: float):
    """(S peak, noise level) in counts of one trace of this event at this distance.

    The S peak follows the magnitude relation, with scatter. The SNR comes
    from the profile's distribution through a Gaussian copula with that
    amplitude, so it keeps the real order (larger and nearer, clearer) and the
    real spread at once; the background level is what gives that SNR.
    """
    mean, std = _log_amplitude_scale()
    log_amplitude = seismograms.log_peak_amplitude(magnitude, hypocentral_km) + rng.normal(0.0, 0.15)
    latent = SNR_COUPLING * (log_amplitude - mean) / std + math.sqrt(1.0 - SNR_COUPLING**2) * rng.normal()
    snr_db = float(profile.snr_db.quantile(0.5 * (1.0 + math.erf(latent / math.sqrt(2.0)))))
    s_amplitude = 10 ** (log_amplitude + _log_gain(profile))
    return s_amplitude, s_amplitude / 10 ** ((snr_db + _SNR_CALIBRATION_DB) / 20.0)


def _time_text(t: datetime.datetime, decimals: int) -> str:
    text = t.strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[: len(text) - 6 + decimals]


def _trace_name(station: seismograms.Station, start: datetime.datetime, category: str) -> str:
    stamp = (start - datetime.timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
    return f"{station.code}.{station.network}_{stamp}{stead.TRACE_NAME_SUFFIX[category]}"


def _station_fields(station: seismograms.Station) -> dict:
    return {
        "network_code": station.network,
        "receiver_code": station.code,
        "receiver_type": station.receiver_type,
        "receiver_latitude": station.latitude,
        "receiver_longitude": station.longitude,
        "receiver_elevation_m": station.elevation_m,
    }


def noise_block(seed: int, block: int, count: int, stations, profile_name: str = "stead"):
    """`count` noise traces: (rows of typed metadata, waveforms (count, 6000, 3))."""
    rng = np.random.default_rng([seed, 1, block])
    profile = reference.PROFILES[profile_name]
    rows, waveforms = [], np.empty((count, *stead.WAVEFORM_SHAPE), np.float32)
    for i in range(count):
        station = stations[rng.integers(len(stations))]
        # The level an earthquake trace's background would have: drawn from an event never added.
        magnitude, epicentral, depth = _draw_source(rng)
        _, level = trace_levels(rng, profile, magnitude, float(_hypocentral_km(epicentral, depth)))
        traces = seismograms.background_noise(rng, station, level)
        seismograms.add_transients(rng, traces, level)
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


def _fits(profile: reference.Profile, hypocentral_km: float) -> bool:
    """Whether S can arrive 5 s before the trace ends with P at the profile's earliest sample."""
    return seismograms.s_arrival_sample(min(profile.p_arrival_samples), hypocentral_km) <= _LAST_S


def _draw_event(rng: np.random.Generator, stations, profile: reference.Profile):
    """An event and the stations that recorded it, nearest first, as (station, epicentral km).

    The first station is at a distance drawn from STEAD's (given the
    magnitude); further stations are drawn with _distance_weights.
    """
    while True:
        magnitude, epicentral, depth = _draw_source(rng)
        first = int(rng.integers(len(stations)))
        lat, lon = seismograms.destination(
            stations[first].latitude, stations[first].longitude, epicentral, rng.uniform(0, 360)
        )
        distances = seismograms.distance_km(
            lat, lon, [s.latitude for s in stations], [s.longitude for s in stations]
        )
        weights = _distance_weights(magnitude, distances)
        weights[first] = 0.0
        extra = min(int(rng.geometric(1.0 / TRACES_PER_EVENT)) - 1, 5, int(np.count_nonzero(weights)))
        chosen = (
            rng.choice(len(stations), size=extra, replace=False, p=weights / weights.sum()) if extra else []
        )
        picked = [first, *(int(k) for k in chosen)]
        picked = [k for k in picked if _fits(profile, float(_hypocentral_km(distances[k], depth)))]
        if picked:
            picked.sort(key=lambda k: distances[k])
            return lat, lon, depth, magnitude, [(stations[k], float(distances[k])) for k in picked]


def earthquake_trace(rng, profile, station, magnitude, epicentral_km, depth_km, back_azimuth):
    """Waveform (6000, 3) and picks (P, S, coda end, samples) of one event at one station."""
    hypocentral = float(_hypocentral_km(epicentral_km, depth_km))
    s_after_p = seismograms.s_arrival_sample(0.0, hypocentral)
    p_sample = profile.p_arrival(rng, latest=int(_LAST_S - s_after_p))
    s_amplitude, level = trace_levels(rng, profile, magnitude, hypocentral)
    traces = seismograms.background_noise(rng, station, level)
    signal, s_sample, coda_end = seismograms.event_signal(
        rng, magnitude, hypocentral, back_azimuth, p_sample, s_amplitude, level
    )
    traces += signal
    # The windows the SNR is measured in (generator rounds S to a whole sample first).
    seismograms.add_transients(rng, traces, level, keep=seismograms.snr_windows(p_sample, round(s_sample)))
    return traces, p_sample, s_sample, coda_end


def _magnitude_type(rng: np.random.Generator, magnitude: float) -> str:
    """mw for the largest events, mb for the next, ml or md for the rest, in the paper's shares.

    As in STEAD, where body-wave and moment magnitudes are the large events'
    and local and duration magnitudes the small ones'.
    """
    shares = reference.MAGNITUDE_TYPE.shares
    total = sum(shares.values())
    # The share of STEAD's events above this one; magnitudes are rounded to 0.1, so undo that first.
    larger = 1.0 - float(MAGNITUDE.cdf(magnitude + rng.uniform(-0.05, 0.05)))
    if larger < shares["mw"] / total:
        return "mw"
    if larger < (shares["mw"] + shares["mb"]) / total:
        return "mb"
    return "ml" if rng.random() < shares["ml"] / (shares["ml"] + shares["md"]) else "md"


def earthquake_block(seed: int, block: int, count: int, stations, profile_name: str = "stead"):
    """`count` earthquake traces: (rows of typed metadata, waveforms (count, 6000, 3))."""
    rng = np.random.default_rng([seed, 2, block])
    profile = reference.PROFILES[profile_name]
    rows, waveforms = [], np.empty((count, *stead.WAVEFORM_SHAPE), np.float32)
    event = 0
    while len(rows) < count:
        lat, lon, depth, magnitude, picked = _draw_event(rng, stations, profile)
        seconds = (block * BLOCK_TRACES + event) * 900.0 + rng.uniform(0, 300)
        origin = EARTHQUAKE_EPOCH + datetime.timedelta(seconds=round(seconds, 2))
        source_id = (
            int(rng.integers(10**7, 10**8))
            if rng.random() < 0.5
            else f"{rng.choice(['nc', 'ci', 'uw'])}{rng.integers(10**7, 10**8)}"
        )
        magnitude_type = _magnitude_type(rng, magnitude)
        for station, epicentral_km in picked[: count - len(rows)]:
            back_azimuth = round(seismograms.azimuth_deg(station.latitude, station.longitude, lat, lon), 1)
            traces, p_sample, s_sample, coda_end = earthquake_trace(
                rng, profile, station, magnitude, epicentral_km, depth, back_azimuth
            )
            waveforms[len(rows)] = traces
            p_travel = float(_hypocentral_km(epicentral_km, depth)) / seismograms.VP_KM_S
            start = origin + datetime.timedelta(seconds=round(p_travel - p_sample * _DT, 2))
            s_sample = float(round(s_sample))
            snr_db = seismograms.measure_snr_db(traces, p_sample, s_sample)
            rows.append(
                {
                    **_station_fields(station),
                    "p_arrival_sample": float(p_sample),
                    "p_status": reference.P_STATUS.sample(rng),
                    "p_weight": round(float(rng.uniform(0.5, 1.0)), 2),
                    "p_travel_sec": float(f"{np.float32(p_travel):.12g}"),  # STEAD's float32, 12 digits
                    "s_arrival_sample": s_sample,
                    "s_status": reference.S_STATUS.sample(rng),
                    "s_weight": round(float(rng.uniform(0.5, 1.0)), 2),
                    "source_id": source_id,
                    "source_origin_time": _time_text(origin, 2),
                    "source_origin_uncertainty_sec": round(float(rng.uniform(0.1, 0.8)), 2),
                    "source_latitude": round(lat, 4),
                    "source_longitude": round(lon, 4),
                    "source_error_sec": round(float(rng.uniform(0.1, 1.5)), 4),
                    "source_gap_deg": round(float(rng.uniform(20, 250)), 3),
                    "source_horizontal_uncertainty_km": round(float(rng.uniform(0.2, 6.0)), 4),
                    "source_depth_km": depth,
                    "source_depth_uncertainty_km": round(float(rng.uniform(0.3, 2.0)), 2)
                    if rng.random() < 0.5
                    else None,
                    "source_magnitude": magnitude,
                    "source_magnitude_type": magnitude_type,
                    "source_magnitude_author": station.network
                    if rng.random() < reference.MAGNITUDE_AUTHOR_SHARE
                    else None,
                    "source_mechanism_strike_dip_rake": None,
                    "source_distance_deg": round(epicentral_km / seismograms.KM_PER_DEG, 2),
                    "source_distance_km": round(epicentral_km, 2),
                    "back_azimuth_deg": back_azimuth,
                    "snr_db": np.round(
                        snr_db.astype(np.float32).astype(np.float64), 8
                    ),  # as the CSV prints it
                    "coda_end_sample": float(round(coda_end)),
                    "trace_start_time": _time_text(start, 6),
                    "trace_category": stead.EARTHQUAKE_CATEGORY,
                    "trace_name": _trace_name(station, start, stead.EARTHQUAKE_CATEGORY),
                }
            )
        event += 1
    return rows, waveforms


def _block(args):
    kind, seed, block, count, profile = args
    make = noise_block if kind == stead.NOISE_CATEGORY else earthquake_block
    return make(seed, block, count, seismograms.make_stations(seed), profile)


def _blocks(kind: str, total: int, seed: int, profile: str) -> list[tuple]:
    return [
        (kind, seed, b, min(BLOCK_TRACES, total - b * BLOCK_TRACES), profile)
        for b in range(-(-total // BLOCK_TRACES))
    ]


def write_synthetic_stead(
    output_dir: str,
    earthquakes: int,
    noise: int,
    seed: int = 0,
    merged: bool = False,
    processes: int | None = None,
    resume: bool = False,
    profile: str = "stead",
) -> list[stead.SteadPair]:
    """Writes a synthetic STEAD and returns its CSV/HDF5 pairs.

    chunk1 holds the noise and chunk2 the earthquakes (a chunk with no traces
    is not written), or merged.csv/.hdf5 holds both with `merged=True`.
    processes: generating processes (default: all cores). resume: keep a
    pair already on disk (each is written atomically, so one that is there
    is complete) and write only the missing ones. profile: a name in
    reference.PROFILES (`stead`, or `hard` for the earlier, noisier mix).
    """
    if profile not in reference.PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose one of {sorted(reference.PROFILES)}")
    if earthquakes < 0 or noise < 0 or earthquakes + noise == 0:
        raise UserError(f"need a positive number of traces, got earthquakes={earthquakes}, noise={noise}")
    try:  # a local directory, in STEAD's layout: no write-check file is left in it
        os.makedirs(output_dir, exist_ok=True)
        if not os.access(output_dir, os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as e:
        raise UserError(f"{output_dir}: cannot write the synthetic STEAD there ({e.strerror})") from None
    noise_tasks = _blocks(stead.NOISE_CATEGORY, noise, seed, profile)
    quake_tasks = _blocks(stead.EARTHQUAKE_CATEGORY, earthquakes, seed, profile)
    if merged:
        jobs = [("merged", noise_tasks + quake_tasks)]
    else:
        jobs = [(name, tasks) for name, tasks in (("chunk1", noise_tasks), ("chunk2", quake_tasks)) if tasks]
    pairs = []
    fileio.remove_temporaries(output_dir)  # pairs a killed run was writing; no lock file in STEAD's layout
    with pool.Pool(processes or os.cpu_count() or 1) as generators:
        for name, tasks in jobs:
            pair = stead.SteadPair(
                os.path.join(output_dir, f"{name}.csv"), os.path.join(output_dir, f"{name}.hdf5")
            )
            if not (resume and os.path.exists(pair.csv) and os.path.exists(pair.hdf5)):
                writer.write_pair(pair, generators.imap(_block, tasks, ordered=True))
            pairs.append(pair)
    return pairs
