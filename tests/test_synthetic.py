"""The synthetic STEAD: exact layout, round trip, determinism, and physics."""

import hashlib
import subprocess
import sys

import h5py
import numpy as np
import pytest

from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.synthetic import generator, reference, seismograms


@pytest.fixture(scope="module")
def metadata(tiny_stead):
    noise = stead.read_metadata(str(tiny_stead / "chunk1.csv"))
    quakes = stead.read_metadata(str(tiny_stead / "chunk2.csv"))
    return noise, quakes


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_layout_matches_stead(tiny_stead, metadata):
    noise, quakes = metadata
    assert [p.name for p in stead.find_pairs(str(tiny_stead))] == ["chunk1", "chunk2"]
    header = (tiny_stead / "chunk2.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == stead.COLUMNS
    assert len(noise) == 60 and len(quakes) == 90
    assert (noise.trace_category == "noise").all() and noise.trace_name.str.endswith("_NO").all()
    assert (quakes.trace_category == "earthquake_local").all() and quakes.trace_name.str.endswith("_EV").all()
    with h5py.File(tiny_stead / "chunk2.hdf5", "r") as f:
        assert list(f.keys()) == ["data"]
        assert sorted(f["data"].keys()) == sorted(quakes.trace_name)
        dataset = f["data"][quakes.trace_name[0]]
        assert dataset.shape == (6000, 3) and dataset.dtype == np.float32
        attrs = dataset.attrs
        assert set(attrs.keys()) == set(stead.COLUMNS)
        assert isinstance(attrs["p_arrival_sample"], float | np.floating)
        assert isinstance(attrs["p_status"], str)
        assert attrs["snr_db"].shape == (3,) and attrs["coda_end_sample"].shape == (1, 1)
        assert attrs["source_mechanism_strike_dip_rake"] == "None"
    with h5py.File(tiny_stead / "chunk1.hdf5", "r") as f:
        attrs = f["data"][noise.trace_name[0]].attrs
        assert attrs["trace_category"] == "noise" and attrs["p_arrival_sample"] == "None"
        assert attrs["snr_db"] == "None" and attrs["receiver_code"] == noise.receiver_code[0]
    # Noise rows fill only the station fields, start time, category and name.
    filled = {
        c for c in stead.COLUMNS if noise[c].map(lambda v: np.all(np.asarray(v) == np.asarray(v))).all()
    }
    assert filled == {
        "network_code",
        "receiver_code",
        "receiver_type",
        "receiver_latitude",
        "receiver_longitude",
        "receiver_elevation_m",
        "trace_start_time",
        "trace_category",
        "trace_name",
    }


def test_round_trip_matches_generated_block(tiny_stead, metadata):
    _, quakes = metadata
    rows, waveforms = generator.earthquake_block(7, 0, 90, seismograms.make_stations(7))
    with stead.WaveformFile(str(tiny_stead / "chunk2.hdf5")) as file:
        for i, row in enumerate(rows):
            read = quakes.iloc[i]
            assert read.trace_name == row["trace_name"]
            np.testing.assert_array_equal(file.read(row["trace_name"]), waveforms[i])
            for column in (
                "p_arrival_sample",
                "s_arrival_sample",
                "source_magnitude",
                "source_distance_km",
                "coda_end_sample",
                "p_travel_sec",
                "source_latitude",
            ):
                assert read[column] == row[column], column
            assert read.source_id == str(row["source_id"])
            np.testing.assert_array_equal(read.snr_db, row["snr_db"])
        with h5py.File(tiny_stead / "chunk2.hdf5", "r") as f:
            attrs = f["data"][rows[0]["trace_name"]].attrs
            assert attrs["source_magnitude"] == rows[0]["source_magnitude"]
            np.testing.assert_array_equal(attrs["snr_db"], rows[0]["snr_db"])


def test_same_seed_same_bytes_whatever_the_workers(tiny_stead, tmp_path):
    generator.write_synthetic_stead(str(tmp_path), earthquakes=90, noise=60, seed=7, processes=2)
    for name in ["chunk1.csv", "chunk1.hdf5", "chunk2.csv", "chunk2.hdf5"]:
        assert _sha256(tmp_path / name) == _sha256(tiny_stead / name), name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chunk1.csv",
        "chunk1.hdf5",
        "chunk2.csv",
        "chunk2.hdf5",
    ]
    other = tmp_path / "other"
    generator.write_synthetic_stead(str(other), earthquakes=90, noise=0, seed=8, processes=1)
    assert not (other / "chunk1.csv").exists()
    assert _sha256(other / "chunk2.hdf5") != _sha256(tiny_stead / "chunk2.hdf5")


def test_merged_pair(tmp_path):
    pairs = generator.write_synthetic_stead(
        str(tmp_path), earthquakes=5, noise=4, seed=1, merged=True, processes=1
    )
    assert [p.name for p in pairs] == ["merged"] == [p.name for p in stead.find_pairs(str(tmp_path))]
    meta = stead.read_metadata(pairs[0].csv)
    assert list(meta.trace_category) == ["noise"] * 4 + ["earthquake_local"] * 5


def _energy_ratio(waveform: np.ndarray, sample: int, window: int = 300) -> float:
    z = waveform[:, 2].astype(np.float64)
    return float(np.mean(z[sample : sample + window] ** 2) / np.mean(z[sample - window : sample] ** 2))


def test_earthquakes_have_energy_after_p_and_noise_does_not(tiny_stead, metadata):
    noise, quakes = metadata
    with stead.WaveformFile(str(tiny_stead / "chunk2.hdf5")) as file:
        quake_ratios = [
            _energy_ratio(file.read(n), int(p)) for n, p in zip(quakes.trace_name, quakes.p_arrival_sample)
        ]
    rng = np.random.default_rng(0)
    with stead.WaveformFile(str(tiny_stead / "chunk1.hdf5")) as file:
        noise_ratios = [_energy_ratio(file.read(n), int(rng.integers(400, 1500))) for n in noise.trace_name]
    assert np.median(quake_ratios) > 5  # 7 to 85 over seeds 1, 2, 3 and 7: weak quakes are common
    assert np.mean(np.array(quake_ratios) > 2) >= 0.75  # 0.80 to 0.93 over the same seeds
    assert 0.5 < np.median(noise_ratios) < 2
    assert np.mean(np.array(noise_ratios) > 2) < 0.15


def test_metadata_follow_from_waveforms_and_geometry(tiny_stead, metadata):
    _, quakes = metadata
    s_minus_p = quakes.s_arrival_sample - quakes.p_arrival_sample
    hypocentral = np.hypot(quakes.source_distance_km, quakes.source_depth_km)
    assert np.corrcoef(s_minus_p, hypocentral)[0, 1] > 0.99
    distances = seismograms.distance_km(
        quakes.source_latitude, quakes.source_longitude, quakes.receiver_latitude, quakes.receiver_longitude
    )
    np.testing.assert_allclose(distances, quakes.source_distance_km, atol=0.05)
    assert (quakes.source_distance_km <= reference.DISTANCE_KM.edges[-1]).all()
    # Every trace ends at least 5 s after S, as STEAD's do.
    assert (quakes.s_arrival_sample <= stead.TRACE_SAMPLES - reference.S_AFTER_END_SAMPLES).all()
    assert quakes.source_id.value_counts().max() > 1  # one event, several stations
    assert (quakes.coda_end_sample > quakes.s_arrival_sample).all()
    with stead.WaveformFile(str(tiny_stead / "chunk2.hdf5")) as file:
        for _, row in quakes.head(10).iterrows():
            waveform = file.read(row.trace_name)
            measured = seismograms.measure_snr_db(waveform, row.p_arrival_sample, row.s_arrival_sample)
            np.testing.assert_allclose(row.snr_db, measured, atol=1e-4)


def test_command_line(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "techtonics.synthetic",
            f"--output_dir={tmp_path}",
            "--earthquakes=3",
            "--noise=2",
            "--processes=1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "chunk2.hdf5" in done.stdout
    assert len(stead.read_metadata(str(tmp_path / "chunk1.csv"))) == 2
    bad = subprocess.run(
        [sys.executable, "-m", "techtonics.synthetic", f"--output_dir={tmp_path}", "--earthquakes=-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0 and "--earthquakes" in bad.stderr


def test_a_resumed_run_removes_a_killed_runs_half_written_pair(tmp_path):
    # Issue 22, item 13: an 83 MB chunk2.hdf5.tmp-* stayed after `synthetic --resume`.
    (tmp_path / "chunk2.hdf5.tmp-0123456789ab").write_bytes(b"half a file")
    generator.write_synthetic_stead(str(tmp_path), earthquakes=5, noise=4, seed=1, processes=1, resume=True)
    assert not list(tmp_path.glob("*.tmp-*")) and (tmp_path / "chunk2.hdf5").exists()


def test_an_output_directory_that_cannot_be_written_is_one_line(tmp_path):
    # Issue 22, item 9: a read-only --output_dir ended in a traceback.
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UserError, match="a_file/stead: cannot write the synthetic STEAD there"):
        generator.write_synthetic_stead(str(tmp_path / "a_file" / "stead"), earthquakes=2, noise=2)
