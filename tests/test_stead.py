"""STEAD schema and readers: real metadata rows, typed values, bad input."""

import h5py
import numpy as np
import pandas as pd
import pytest

from techtonics.data import stead


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_real_rows_parse_to_typed_values(real_metadata_csv):
    meta = stead.read_metadata(str(real_metadata_csv))
    assert len(meta) == 100
    assert tuple(meta.columns) == stead.COLUMNS
    first = meta.iloc[0]
    assert first.trace_name == "109C.TA_20060723155859_EV"
    assert first.network_code == "TA" and first.receiver_code == "109C"
    assert first.p_arrival_sample == 700.0 and first.s_arrival_sample == 1894.0
    assert first.p_travel_sec == pytest.approx(17.0799999237)
    assert first.source_id == "8556349"  # text, although it looks numeric
    assert first.source_magnitude == 3.6 and first.source_magnitude_type == "ml"
    assert first.source_distance_km == 102.09 and first.back_azimuth_deg == 159.3
    np.testing.assert_allclose(first.snr_db, [56.79999924, 55.40000153, 47.40000153])
    assert first.coda_end_sample == 2896.0
    assert np.isnan(first.source_depth_uncertainty_km)  # 'None' in the file
    assert pd.isna(first.source_magnitude_author) and pd.isna(first.source_mechanism_strike_dip_rake)
    assert first.trace_start_time == "2006-07-23 15:59:00.960000"
    assert meta.source_origin_uncertainty_sec.isna().sum() == 62  # 60 'nan' and 2 'None'
    second = meta.iloc[1]
    assert second.source_magnitude == 4.3 and second.coda_end_sample == 5508.0
    assert meta.source_depth_uncertainty_km[12] == 0.77 and meta.source_id[36] == "ci10259305"
    assert (meta.trace_category == stead.EARTHQUAKE_CATEGORY).all()
    assert meta.trace_name.str.endswith("_EV").all()
    for column in stead.FLOAT_COLUMNS:
        assert meta[column].dtype == np.float64, column
    assert meta.p_arrival_sample.notna().all() and meta.source_magnitude.notna().all()
    assert all(len(v) == 3 for v in meta.snr_db)


def test_text_columns_stay_text(real_metadata_csv, tmp_path):
    raw = pd.read_csv(real_metadata_csv, dtype=str, keep_default_na=False)
    raw.loc[0, "network_code"] = "NA"  # a real network code, not a missing value
    raw.loc[1, "source_id"] = "ci00123"
    raw.loc[2, "source_magnitude"] = ""
    path = tmp_path / "x.csv"
    raw.to_csv(path, index=False)
    meta = stead.read_metadata(str(path))
    assert meta.network_code[0] == "NA"
    assert meta.source_id[1] == "ci00123" and meta.source_id[0] == "8556349"
    assert np.isnan(meta.source_magnitude[2])


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("source_magnitude", "big", "source_magnitude 'big' is not a number"),
        ("snr_db", "[ 1.0  2.0]", "snr_db '[ 1.0  2.0]' is not 3 numbers"),
        ("snr_db", "[ 1.0  x  2.0]", "snr_db '[ 1.0  x  2.0]' is not 3 numbers"),
        ("coda_end_sample", "[[ x ]]", "coda_end_sample"),
    ],
)
def test_bad_values_name_file_trace_and_column(real_metadata_csv, tmp_path, column, value, expected):
    raw = pd.read_csv(real_metadata_csv, dtype=str, keep_default_na=False)
    raw.loc[3, column] = value
    path = tmp_path / "bad.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(stead.SteadError) as error:
        stead.read_metadata(str(path))
    message = _one_line(error)
    assert str(path) in message and raw.trace_name[3] in message and expected in message


def test_csv_errors(real_metadata_csv, tmp_path):
    with pytest.raises(stead.SteadError) as error:
        stead.read_metadata(str(tmp_path / "nope.csv"))
    assert "nope.csv: no such file" in _one_line(error)

    raw = pd.read_csv(real_metadata_csv, dtype=str, keep_default_na=False)
    path = tmp_path / "cols.csv"
    raw.drop(columns=["p_arrival_sample", "snr_db"]).to_csv(path, index=False)
    with pytest.raises(stead.SteadError) as error:
        stead.read_metadata(str(path))
    assert "missing STEAD columns: p_arrival_sample, snr_db" in _one_line(error)

    path = tmp_path / "dup.csv"
    pd.concat([raw, raw.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(stead.SteadError) as error:
        stead.read_metadata(str(path))
    assert "109C.TA_20060723155859_EV appears more than once" in _one_line(error)


def _write_hdf5(path, traces: dict, group=stead.HDF5_GROUP):
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for name, data in traces.items():
            g.create_dataset(name, data=data)


def test_waveform_file_reads_and_rejects_bad_traces(tmp_path):
    good = np.random.default_rng(0).normal(size=stead.WAVEFORM_SHAPE).astype(np.float32)
    bad_nan = good.copy()
    bad_nan[10, 2] = np.nan
    path = tmp_path / "w.hdf5"
    _write_hdf5(
        path,
        {
            "good_EV": good,
            "short_EV": good[:5000],
            "double_EV": good.astype(np.float64),
            "nan_EV": bad_nan,
        },
    )
    with stead.WaveformFile(str(path)) as waveforms:
        assert len(waveforms) == 4 and "good_EV" in waveforms
        np.testing.assert_array_equal(waveforms.read("good_EV"), good)
        for name, reason, text in [
            ("absent_EV", "missing", "trace absent_EV is not in the file"),
            ("short_EV", "wrong_shape", "shape (5000, 3), expected (6000, 3)"),
            ("double_EV", "wrong_dtype", "dtype float64, expected float32"),
            ("nan_EV", "non_finite", "NaN or infinite"),
        ]:
            with pytest.raises(stead.BadTraceError) as error:
                waveforms.read(name)
            assert error.value.reason == reason
            message = _one_line(error)
            assert str(path) in message and name in message and text in message


def test_waveform_file_errors(tmp_path):
    with pytest.raises(stead.SteadError) as error:
        stead.WaveformFile(str(tmp_path / "nope.hdf5"))
    assert "nope.hdf5: no such file" in _one_line(error)

    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(b"not an hdf5 file at all" * 100)
    with pytest.raises(stead.SteadError) as error:
        stead.WaveformFile(str(corrupt))
    assert "corrupt.hdf5: not a readable HDF5 file" in _one_line(error)

    truncated = tmp_path / "truncated.hdf5"
    _write_hdf5(truncated, {f"t{i}_EV": np.zeros(stead.WAVEFORM_SHAPE, np.float32) for i in range(5)})
    truncated.write_bytes(truncated.read_bytes()[:200_000])
    with pytest.raises(stead.SteadError) as error:
        with stead.WaveformFile(str(truncated)) as waveforms:
            for name in waveforms.trace_names():
                waveforms.read(name)
    assert "truncated.hdf5" in _one_line(error)

    other = tmp_path / "other.hdf5"
    _write_hdf5(other, {}, group="waveforms")
    with pytest.raises(stead.SteadError) as error:
        stead.WaveformFile(str(other))
    assert "no 'data' group" in _one_line(error)


def test_find_pairs(tmp_path):
    for name in ["chunk10", "chunk2", "chunk1"]:
        (tmp_path / f"{name}.csv").write_text("x")
        (tmp_path / f"{name}.hdf5").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    pairs = stead.find_pairs(str(tmp_path))
    assert [p.name for p in pairs] == ["chunk1", "chunk2", "chunk10"]
    assert pairs[1].hdf5 == str(tmp_path / "chunk2.hdf5")

    (tmp_path / "chunk3.csv").write_text("x")
    with pytest.raises(stead.SteadError) as error:
        stead.find_pairs(str(tmp_path))
    assert "chunk3.csv: no matching chunk3.hdf5" in _one_line(error)
    (tmp_path / "chunk3.csv").unlink()

    (tmp_path / "merged.csv").write_text("x")
    with pytest.raises(stead.SteadError) as error:
        stead.find_pairs(str(tmp_path))
    assert "both merged.csv and chunk CSVs" in _one_line(error)

    with pytest.raises(stead.SteadError) as error:
        stead.find_pairs(str(tmp_path / "empty"))
    assert "no such directory" in _one_line(error)

    with pytest.raises(stead.SteadError) as error:
        stead.pairs_from_lists(["a.csv", "b.csv"], ["a.hdf5"])
    assert "2 CSV files but 1 HDF5 files" in _one_line(error)


def test_stead_files_name_one_input(tmp_path):
    for name in ["chunk1", "chunk2"]:
        (tmp_path / f"{name}.csv").write_text("x")
        (tmp_path / f"{name}.hdf5").write_text("x")
    assert not stead.SteadFiles().given and stead.SteadFiles().pairs() == ()
    files = stead.SteadFiles(stead_dir=str(tmp_path))
    assert files.given and files.pairs() == tuple(stead.find_pairs(str(tmp_path)))
    assert stead.SteadFiles(csv=("a.csv",), hdf5=("a.hdf5",)).pairs() == (stead.SteadPair("a.csv", "a.hdf5"),)
    with pytest.raises(stead.SteadError) as error:
        stead.SteadFiles(stead_dir=str(tmp_path), csv=("a.csv",)).pairs()
    assert "give --stead_dir or --csv/--hdf5, not both" in _one_line(error)


def test_every_regression_target_has_its_bounds_beside_its_units():
    assert set(stead.TARGET_BOUNDS) == set(stead.REGRESSION_TARGETS)
    assert all(low < high for low, high in stead.TARGET_BOUNDS.values())
