"""SeisBench-format input: STEAD in SeisBench's format converts to the same records, other rates and lengths
become 60 s at 100 Hz with their arrivals moved, bad input is named or counted, and predict reads it.

The SeisBench-format fixtures are written with h5py as SeisBench's writer writes them
(techtonics.testing.seisbench_format), following its "data format" documentation.
"""

import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_convert import read_records

from techtonics.conversion import converter, plan
from techtonics.core import options
from techtonics.data import records, seisbench, seisbench_metadata, seisbench_waveforms, splits, stead
from techtonics.prediction import inputs, predictor
from techtonics.testing import seisbench_format
from techtonics.testing.exports import export_untrained

CLI = [sys.executable, str(REPO / "tools" / "convert_to_tfrecord.py")]
# tiny_records' arguments (conftest.py): the SeisBench route converts with the same.
SPLIT = splits.SplitConfig(validation_fraction=0.2, test_fraction=0.2, seed=1)


def _convert(source, output_dir, **overrides) -> dict:
    pairs = tuple(seisbench.find_chunks(str(source))) if not isinstance(source, tuple) else source
    config = plan.ConvertConfig(pairs=pairs, output_dir=str(output_dir), processes=1, **overrides)
    return converter.convert(config, progress=False)


@pytest.fixture(scope="module")
def stead_copy(tiny_stead, tiny_records, tmp_path_factory) -> str:
    """tiny_stead in SeisBench's format (ZNE, channels first, blocks of 32), split as tiny_records is."""
    split_of = {
        row["trace_name"].decode(): {"validation": "dev"}.get(split, split)
        for split, rows in read_records(tiny_records).items()
        for row in rows
    }
    pairs = stead.find_pairs(str(tiny_stead))
    return seisbench_format.stead_copy(
        pairs, str(tmp_path_factory.mktemp("seisbench")), split_of, block_size=32
    )


def test_stead_in_seisbenchs_format_converts_to_the_same_records(stead_copy, tiny_records, tmp_path):
    with h5py.File(os.path.join(stead_copy, "waveforms.hdf5")) as f:
        assert f["data/bucket0"].shape == (32, 3, 6000)  # packed as SeisBench packs STEAD
        assert f["data_format/component_order"][()] == b"ZNE"
    manifest = _convert(stead_copy, tmp_path, split=SPLIT, min_shards=4)
    expected = read_records(tiny_records)
    got = read_records(tmp_path)
    assert got.keys() == expected.keys()
    for split in expected:
        assert [r["trace_name"] for r in got[split]] == [r["trace_name"] for r in expected[split]]
        for mine, theirs in zip(got[split], expected[split]):
            for key, value in theirs.items():
                np.testing.assert_array_equal(
                    mine[key], value, err_msg=f"{split} {theirs['trace_name']} {key}"
                )
    # The same traces in the same shards: every shard byte for byte as STEAD's own conversion wrote it.
    assert manifest["splits"] == records.read_manifest(str(tiny_records))["splits"]
    assert manifest["arguments"]["pairs"][0]["data_format"]["unit"] == "counts"
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.tfrecord")}
    assert _convert(stead_copy, tmp_path, split=SPLIT, min_shards=4) == manifest  # resumed: nothing to do
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.tfrecord")} == written


def test_the_dataset_split_column_gives_the_splits_unless_asked_otherwise(stead_copy, tmp_path):
    manifest = _convert(
        stead_copy, tmp_path / "own", split=splits.SplitConfig(validation_fraction=0.5, seed=1)
    )
    listed = pd.read_csv(os.path.join(stead_copy, "metadata.csv")).split.value_counts()
    counts = {name: info["count"] for name, info in manifest["splits"].items()}
    assert counts == {"train": listed["train"], "validation": listed["dev"], "test": listed["test"]}
    fractions = splits.SplitConfig(validation_fraction=0.5, test_fraction=0.1, dataset_splits=False, seed=1)
    manifest = _convert(stead_copy, tmp_path / "fractions", split=fractions)
    assert manifest["splits"]["validation"]["count"] == 75
    with pytest.raises(seisbench.SeisBenchError, match="--nodataset_splits"):
        _convert(stead_copy, tmp_path / "list", test_trace_list=os.path.join(stead_copy, "metadata.csv"))


def _spikes(channels: int, samples: int, at: dict[int, int]) -> np.ndarray:
    trace = np.zeros((channels, samples), np.float32)
    for channel, sample in at.items():
        trace[channel, sample] = 1000.0
    return trace


# name: (rate column value, samples, P, S) at the trace's own rate; Z spikes at P, E (channel 2 of ZNE) at S.
TRACES = {
    "_a": {
        "a100": ({}, 6000, 700, 1100),
        "a50": ({"trace_sampling_rate_hz": 50.0}, 3000, 350, 550),
        "a200": ({"trace_dt_s": 0.005}, 24000, 6000, 6800),
        "anoise": ({}, 12000, None, None),
    },
    "_b": {
        "b100": ({}, 9000, 2500, 3300),
        "b50": ({"trace_sampling_rate_hz": 50.0}, 6000, 300, 700),
        "bshort": ({}, 4000, 500, 900),
    },
}
STRETCH = {"a50": 2.0, "a200": 0.5, "b50": 2.0}


def _write_rates_and_lengths(directory) -> None:
    """Two chunks (and a chunks file), rates 50, 100 and 200 Hz, traces of 60 to 120 s at 100 Hz, in
    another dataset's column names: no trace_category, P and S by phase, epicentral distance."""
    data_format = {"dimension_order": "CW", "component_order": "ZNE", "sampling_rate": 100.0, "unit": "mps"}
    for chunk, traces in TRACES.items():
        rows, waves = [], []
        for name, (rate, samples, p, s) in traces.items():
            picked = {"trace_P_arrival_sample": p, "trace_S_arrival_sample": s} if p else {}
            rows.append({"trace_name": name, **rate, **picked, "path_ep_distance_km": 12.5, "split": "train"})
            waves.append(_spikes(3, samples, {0: p, 2: s} if p else {0: 3000}))
        seisbench_format.write_chunk(str(directory), pd.DataFrame(rows), waves, data_format, chunk, 3)
    (directory / "chunks").write_text("_a\n_b\n")


def test_rates_and_lengths_become_60_s_at_100_hz_with_their_arrivals_moved(tmp_path):
    _write_rates_and_lengths(tmp_path / "in")
    command = [f"--seisbench_dir={tmp_path / 'in'}", f"--output_dir={tmp_path / 'out'}", "--min_shards=1"]
    done = subprocess.run([*CLI, *command, "--processes=1"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    (tmp_path / "in" / "chunks").unlink()  # without the chunks file, the chunks are found by file name
    assert [c.csv for c in seisbench.find_chunks(str(tmp_path / "in"))] == [
        str(tmp_path / "in" / f"metadata{chunk}.csv") for chunk in TRACES
    ]
    got = {r["trace_name"].decode(): r for r in read_records(tmp_path / "out")["train"]}
    assert got.keys() == {name for traces in TRACES.values() for name in traces}
    for traces in TRACES.values():
        for name, (_, samples, p, s) in traces.items():
            record, stretch = got[name], STRETCH.get(name, 1.0)
            z, e = np.abs(record["waveform"][:, stead.Z]), np.abs(record["waveform"][:, 0])
            noise = stead.CATEGORY_CLASS[stead.NOISE_CATEGORY]
            assert record["label"] == (stead.EARTHQUAKE_CLASS if p else noise), name
            if p is None:  # noise: the trace's first 60 s
                assert z.argmax() == 3000 and np.isnan(record["p_arrival_sample"])
                continue
            moved_p, moved_s = float(record["p_arrival_sample"]), float(record["s_arrival_sample"])
            # The spikes land where the arrivals moved to: by the resampling, then by the window.
            assert z.argmax() == round(moved_p) and e.argmax() == round(moved_s), name
            assert moved_s - moved_p == pytest.approx((s - p) * stretch)
            if p * stretch <= seisbench_metadata.P_LATEST:  # P early enough: the window starts with the trace
                assert moved_p == pytest.approx(p * stretch)
            else:  # P placed where STEAD has it
                assert seisbench_metadata.P_EARLIEST <= moved_p <= seisbench_metadata.P_LATEST
            assert record["source_distance_km"] == 12.5
            assert not z[int(min(samples * stretch, 6000)) :].any()  # a short trace is padded with zeros


def test_resampling_is_scipys_fourier_method():
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(0).normal(size=(3, 3001))
    for n, num in ((3000, 6000), (3001, 6002), (3000, 1500), (3001, 1200), (2999, 4000)):
        expected = signal.resample(x[:, :n], num, axis=-1)
        np.testing.assert_allclose(seisbench_waveforms.resample(x[:, :n], num), expected, atol=1e-10)


def test_slices_and_component_orders_are_read_as_numpy_reads_them(tmp_path):
    trace = np.arange(6000 * 3, dtype=np.float64).reshape(6000, 3)  # W x C, components 1, Z, 2
    rows = pd.DataFrame({"trace_name": ["t"], "trace_category": ["noise"], "trace_component_order": ["1Z2"]})
    data_format = {"dimension_order": "WC", "component_order": "ZNE", "sampling_rate": 100.0}
    seisbench_format.write_chunk(str(tmp_path), rows, [trace], data_format)
    (chunk,) = seisbench.find_chunks(str(tmp_path))
    meta, skipped = seisbench_metadata.load_chunk(chunk)
    with seisbench_waveforms.WaveformReader(chunk.hdf5, meta) as reader:
        np.testing.assert_array_equal(reader.read("t"), trace[:, [0, 2, 1]].astype(np.float32))
    assert seisbench_waveforms.parse_location("5,1:7,:") == (5, slice(1, 7), slice(None))
    assert seisbench_waveforms.sliced_shape((4, 3, 9000), (1, slice(None, 3), slice(None, 6000))) == (3, 6000)


def _dataset(directory, rows: list[dict], data_format: dict | None = None, waves=None) -> str:
    data_format = data_format or {"dimension_order": "CW", "component_order": "ZNE", "sampling_rate": 100.0}
    waves = waves if waves is not None else [_spikes(3, 6000, {0: 700}) for _ in rows]
    seisbench_format.write_chunk(str(directory), pd.DataFrame(rows), waves, data_format, block_size=2)
    return str(directory)


def _earthquake(name: str, **values) -> dict:
    return {"trace_name": name, "trace_category": "earthquake_local", "trace_p_arrival_sample": 700, **values}


def test_traces_that_cannot_be_read_are_counted_by_reason(tmp_path):
    rows = [
        _earthquake("good"),
        _earthquake("slow", trace_sampling_rate_hz=10.0),
        _earthquake("zero", trace_sampling_rate_hz=0.0),
        _earthquake("zn_only", trace_component_order="ZN"),
        _earthquake("two_channels"),  # written as 2 channels below, while the order names 3
        _earthquake("also_good"),
    ]
    waves = [_spikes(2 if row["trace_name"] == "two_channels" else 3, 6000, {0: 700}) for row in rows]
    directory = _dataset(tmp_path / "in", rows, waves=waves)
    metadata = pd.read_csv(os.path.join(directory, "metadata.csv"))
    extra = pd.DataFrame(
        {"trace_name": ["nosuch$0,:3,:6000", "bucket0$7,:3,:6000"], "trace_category": "noise"}
    )
    pd.concat([metadata, extra]).to_csv(os.path.join(directory, "metadata.csv"), index=False)
    manifest = _convert(
        directory, tmp_path / "out", min_shards=1, split=splits.SplitConfig(test_fraction=0.0)
    )
    assert manifest["skipped"] == {
        "bad_sampling_rate": 2,
        "missing_components": 2,
        "no_such_block": 1,
        "no_such_slice": 1,
    }
    assert sum(s["count"] for s in manifest["splits"].values()) == 2
    with pytest.raises(stead.BadTraceError, match=r"waveforms.hdf5: trace .*: bad sampling rate"):
        _convert(directory, tmp_path / "fail", on_bad_trace="fail")


def test_rows_that_repeat_a_trace_name_or_a_slice_are_all_skipped_and_counted(tmp_path):
    # Issue 31: two rows naming one HDF5 slice were both converted, silently; a repeated name was refused.
    directory = _dataset(tmp_path / "in", [_earthquake(name) for name in "abcd"])
    path = os.path.join(directory, "metadata.csv")
    metadata = pd.read_csv(path)
    assert metadata.trace_name[0] == "bucket0$0,:3,:6000"
    metadata.loc[3, "trace_name_original"] = "c"  # c's name, d's waveform
    again = _earthquake("bucket0$0", trace_name_original="a_again")  # a's slice, spelled otherwise
    pd.concat([metadata, pd.DataFrame([again])]).to_csv(path, index=False)
    manifest = _convert(
        directory, tmp_path / "out", min_shards=1, split=splits.SplitConfig(test_fraction=0.0)
    )
    assert manifest["skipped"] == {"duplicate_slice": 2, "duplicate_trace_name": 2}
    assert sorted(manifest["skipped_traces"]) == [
        ["a", "duplicate_slice"],
        ["a_again", "duplicate_slice"],
        ["c", "duplicate_trace_name"],
        ["c", "duplicate_trace_name"],
    ]
    assert [r["trace_name"] for rows in read_records(tmp_path / "out").values() for r in rows] == [b"b"]
    with pytest.raises(stead.BadTraceError, match=r"hdf5: trace bucket0\$0,:3,:6000: duplicate slice"):
        _convert(directory, tmp_path / "fail", on_bad_trace="fail")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: os.remove(os.path.join(d, "metadata.csv")), r"metadata.csv: no such file"),
        (lambda d: os.remove(os.path.join(d, "waveforms.hdf5")), r"waveforms.hdf5: no such file"),
        (lambda d: [os.remove(os.path.join(d, n)) for n in os.listdir(d)], r"no metadata.csv"),
        (lambda d: _drop(d, "data_format"), r"waveforms.hdf5: no 'data_format' group"),
        (lambda d: _set_format(d, component_order="ENX"), r"component_order 'ENX' has no Z component"),
        (lambda d: _set_format(d, dimension_order="NCW"), r"dimension_order 'NCW'"),
        (lambda d: _set_format(d, sampling_rate="fast"), r"sampling_rate 'fast' is not a number"),
        (
            lambda d: _drop_columns(d, "trace_category", "trace_p_arrival_sample"),
            r"metadata.csv: no label column",
        ),
        (lambda d: _set_column(d, "trace_dt_s", "soon"), r"trace_dt_s 'soon' is not a number"),
        (lambda d: _set_column(d, "split", "fold3"), r"split 'fold3' is none of train, dev, test"),
    ],
)
def test_bad_datasets_are_one_line_errors(tmp_path, make, message):
    directory = _dataset(tmp_path / "in", [_earthquake("a", split="train"), _earthquake("b", split="test")])
    make(directory)
    with pytest.raises(seisbench.SeisBenchError, match=message) as error:
        _convert(directory, tmp_path / "out", min_shards=1)
    assert "\n" not in str(error.value)


def _drop(directory: str, group: str) -> None:
    with h5py.File(os.path.join(directory, "waveforms.hdf5"), "a") as f:
        del f[group]


def _set_format(directory: str, **values) -> None:
    with h5py.File(os.path.join(directory, "waveforms.hdf5"), "a") as f:
        for key, value in values.items():
            del f["data_format"][key]
            f["data_format"].create_dataset(key, data=value)


def _set_column(directory: str, column: str, value) -> None:
    path = os.path.join(directory, "metadata.csv")
    pd.read_csv(path).assign(**{column: value}).to_csv(path, index=False)


def _drop_columns(directory: str, *columns: str) -> None:
    path = os.path.join(directory, "metadata.csv")
    pd.read_csv(path).drop(columns=list(columns)).to_csv(path, index=False)


def test_the_command_line_takes_one_input(tiny_stead, stead_copy, tmp_path):
    both = [f"--stead_dir={tiny_stead}", f"--seisbench_dir={stead_copy}", f"--output_dir={tmp_path}"]
    done = subprocess.run([*CLI, *both], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "error: give one input: --stead_dir (or --csv and --hdf5) or --seisbench_dir"
    ]


def test_predict_reads_a_seisbench_dataset_as_it_reads_the_same_stead(tiny_stead, stead_copy, tmp_path):
    model = export_untrained(str(tmp_path / "model"), "classification", seed=1)

    def predicted(source, name) -> list[dict]:
        config = options.build(
            predictor.PredictConfig,
            {"progress": False, "batch_size": 32},
            models=(model,),
            output_dir=str(tmp_path / name),
        )
        predictor.predict(config, source)
        with open(tmp_path / name / "predictions.csv") as f:
            return list(csv.DictReader(f))

    config = options.build(inputs.SourceConfig, {"seisbench_dir": stead_copy})
    rows = predicted(config.source(stride_s=10.0, fill_gaps=False), "seisbench")
    names = pd.read_csv(os.path.join(stead_copy, "metadata.csv")).trace_name_original.tolist()
    assert [r["trace_name"] for r in rows] == names  # one row per trace, in the dataset's order
    assert rows == predicted(inputs.stead_source(stead.find_pairs(str(tiny_stead))), "stead")
