"""The converter: exact records, clean splits, resume after SIGKILL, bad input."""

import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from techtonics.conversion import converter, plan, verify, write
from techtonics.core import fileio
from techtonics.data import records, splits, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.synthetic import generator
from techtonics.testing import faults

CLI = [sys.executable, str(pathlib.Path(__file__).resolve().parents[1] / "tools" / "convert_to_tfrecord.py")]


def _config(stead_dir, output_dir, **overrides) -> plan.ConvertConfig:
    split = overrides.pop("split", splits.SplitConfig(seed=3))
    return plan.ConvertConfig(
        pairs=tuple(stead.find_pairs(str(stead_dir))),
        output_dir=str(output_dir),
        split=split,
        processes=1,
        **overrides,
    )


def read_records(output_dir) -> dict[str, list[dict]]:
    """Every record of every split, decoded, as {split: [features as numpy]}."""
    manifest = records.read_manifest(str(output_dir))
    compression = records.compression_type(manifest)
    result = {}
    for split, info in manifest["splits"].items():
        files = [str(output_dir / s["file"]) for s in info["shards"]]
        rows = []
        for batch in tf.data.TFRecordDataset(files, compression_type=compression).batch(64):
            parsed = {
                k: v.numpy() for k, v in records.parse_batch(batch, manifest["waveform"]["encoding"]).items()
            }
            rows += [{k: v[i] for k, v in parsed.items()} for i in range(len(parsed["label"]))]
        result[split] = rows
    return result


def _digests(directory) -> dict[str, str]:
    """sha256 of every output file (not the lock file, which names the run that held the directory)."""
    files = [p for p in sorted(directory.iterdir()) if p.is_file() and p.name != fileio.LOCK_NAME]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_every_trace_once_bit_for_bit(tiny_stead, tmp_path):
    manifest = converter.convert(_config(tiny_stead, tmp_path), progress=False)
    assert not verify.verify(str(tmp_path))
    read = read_records(tmp_path)
    names = [r["trace_name"].decode() for rows in read.values() for r in rows]
    assert len(names) == len(set(names)) == 150  # every trace, exactly once
    meta = pd.concat([stead.read_metadata(p.csv) for p in stead.find_pairs(str(tiny_stead))]).set_index(
        "trace_name"
    )
    assert set(names) == set(meta.index)
    for split, rows in read.items():
        info = manifest["splits"][split]
        assert info["count"] == len(rows) == sum(s["count"] for s in info["shards"])
        assert info["class_counts"]["earthquake"] == sum(r["label"] for r in rows)
        assert len(info["shards"]) == 8  # never fewer than min_shards
    # Stratified: each class split about 80/10/10.
    assert manifest["splits"]["test"]["class_counts"] == {"noise": 6, "earthquake": 9}
    with (
        stead.WaveformFile(str(tiny_stead / "chunk2.hdf5")) as quakes,
        stead.WaveformFile(str(tiny_stead / "chunk1.hdf5")) as noise,
    ):
        for rows in read.values():
            for record in rows:
                name = record["trace_name"].decode()
                source = (quakes if name.endswith("_EV") else noise).read(name)
                assert record["waveform"].tobytes() == source.tobytes()  # bit for bit
                row = meta.loc[name]
                assert record["label"] == stead.CATEGORY_CLASS[row.trace_category]
                for target in records.TARGETS:
                    np.testing.assert_array_equal(record[target], np.float32(row[target]))
                np.testing.assert_array_equal(record["snr_db"], np.asarray(row.snr_db, np.float32))
    train = meta.loc[[r["trace_name"].decode() for r in read["train"]]]
    stats = manifest["target_stats"]["source_magnitude"]
    assert stats["count"] == train.source_magnitude.notna().sum()
    assert stats["mean"] == pytest.approx(train.source_magnitude.mean())


def test_split_by_source_id_keeps_events_together(tiny_stead, tmp_path):
    converter.convert(
        _config(tiny_stead, tmp_path, split=splits.SplitConfig(0.2, 0.2, "source_id", seed=1)), False
    )
    split_of_event = {}
    for split, rows in read_records(tmp_path).items():
        for r in rows:
            if r["label"] == 1:
                split_of_event.setdefault(r["source_id"], set()).add(split)
    assert all(len(s) == 1 for s in split_of_event.values())
    assert len({next(iter(s)) for s in split_of_event.values()}) == 3


def test_test_trace_list_fixes_the_test_split(tiny_stead, tmp_path):
    meta = stead.read_metadata(str(tiny_stead / "chunk2.csv"))
    listed = list(meta.trace_name[:12]) + ["NOT.IN_20000101000000_EV"]
    (tmp_path / "test.txt").write_text("# EQTransformer-style list\n" + "\n".join(listed) + "\n")
    out = tmp_path / "records"
    converter.convert(_config(tiny_stead, out, test_trace_list=str(tmp_path / "test.txt")), progress=False)
    test_names = {r["trace_name"].decode() for r in read_records(out)["test"]}
    assert test_names == set(listed[:12])
    with pytest.raises(ValueError, match="nope.txt: no such trace list"):
        converter.convert(
            _config(tiny_stead, out, test_trace_list=str(tmp_path / "nope.txt")), progress=False
        )


def test_subset_and_selection_errors(tiny_stead, tmp_path):
    manifest = converter.convert(
        _config(tiny_stead, tmp_path, noise_traces=10, earthquake_traces=20), progress=False
    )
    counts = [info["class_counts"] for info in manifest["splits"].values()]
    assert sum(c["noise"] for c in counts) == 10 and sum(c["earthquake"] for c in counts) == 20
    with pytest.raises(ValueError, match="asked for 1000 noise traces but the input holds 60"):
        converter.convert(_config(tiny_stead, tmp_path / "x", noise_traces=1000), progress=False)
    with pytest.raises(ValueError, match="the selection is empty"):
        converter.convert(
            _config(tiny_stead, tmp_path / "y", noise_traces=0, earthquake_traces=0), progress=False
        )


def test_int16_gzip_survives_large_values_and_reports_error(tmp_path):
    stead_dir = tmp_path / "stead"
    generator.write_synthetic_stead(str(stead_dir), earthquakes=20, noise=0, seed=5, processes=1)
    meta = stead.read_metadata(str(stead_dir / "chunk2.csv"))
    with h5py.File(stead_dir / "chunk2.hdf5", "r+") as f:
        f["data"][meta.trace_name[0]][100, 2] = 3.0e6  # beyond float16's 65504
    manifest = converter.convert(
        _config(stead_dir, tmp_path / "r", encoding="int16", compression="GZIP", min_shards=2), progress=False
    )
    error = manifest["waveform"]["worst_relative_error"]
    assert 0 < error <= 1.01 * 0.5 / 32767  # half a step, plus float32 rounding of the scale
    assert all(s["file"].endswith(".tfrecord.gz") for s in manifest["splits"]["train"]["shards"])
    with stead.WaveformFile(str(stead_dir / "chunk2.hdf5")) as waveforms:
        for rows in read_records(tmp_path / "r").values():
            for r in rows:
                source = waveforms.read(r["trace_name"].decode())
                peak = np.abs(source).max(axis=0)
                assert np.all(np.abs(r["waveform"] - source) <= peak * 1.01 * 0.5 / 32767)
                if r["trace_name"].decode() == meta.trace_name[0]:
                    assert r["waveform"][100, 2] == pytest.approx(3.0e6, rel=1e-6)


@pytest.fixture()
def bad_stead(tiny_stead, tmp_path):
    """The tiny STEAD with one trace of each kind of damage."""
    directory = tmp_path / "bad"
    shutil.copytree(tiny_stead, directory)
    meta = pd.read_csv(directory / "chunk2.csv", dtype=str, keep_default_na=False)
    names = list(meta.trace_name[:5])
    with h5py.File(directory / "chunk2.hdf5", "r+") as f:
        data = f["data"]
        del data[names[0]]
        del data[names[1]]
        data.create_dataset(names[1], data=np.zeros((5000, 3), np.float32))
        waveform = data[names[2]][()]
        del data[names[2]]
        data.create_dataset(names[2], data=waveform.astype(np.float64))
        data[names[3]][7, 1] = np.inf
    meta.loc[4, "trace_category"] = "explosion"
    meta.to_csv(directory / "chunk2.csv", index=False)
    return directory, names


def test_bad_traces_are_skipped_and_counted(bad_stead, tmp_path):
    directory, names = bad_stead
    manifest = converter.convert(_config(directory, tmp_path), progress=False)
    assert manifest["skipped"] == {
        "missing": 1,
        "wrong_shape": 1,
        "wrong_dtype": 1,
        "non_finite": 1,
        "unknown_category": 1,
    }
    assert sorted(name for name, _ in manifest["skipped_traces"]) == sorted(names)
    written = {r["trace_name"].decode() for rows in read_records(tmp_path).values() for r in rows}
    assert len(written) == 145 and not written & set(names)
    assert sum(info["count"] for info in manifest["splits"].values()) == 145


def _run_cli(*args, check_rc=None):
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)
    if check_rc is not None:
        assert done.returncode == check_rc, done.stderr
    return done


def _error_line(done) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_bad_input_fails_with_one_line(bad_stead, tiny_stead, tmp_path):
    directory, names = bad_stead
    out = f"--output_dir={tmp_path / 'out'}"
    done = _run_cli(f"--stead_dir={directory}", out, "--on_bad_trace=fail", "--processes=2", check_rc=1)
    line = _error_line(done)
    assert "chunk2" in line and any(name in line for name in names)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(tiny_stead / "chunk2.csv", mixed / "chunk2.csv")
    shutil.copy(tiny_stead / "chunk1.hdf5", mixed / "chunk2.hdf5")
    assert "do not belong together" in _error_line(_run_cli(f"--stead_dir={mixed}", out, check_rc=1))

    columns = tmp_path / "columns"
    columns.mkdir()
    pd.read_csv(tiny_stead / "chunk1.csv").drop(columns=["trace_category"]).to_csv(columns / "chunk1.csv")
    shutil.copy(tiny_stead / "chunk1.hdf5", columns / "chunk1.hdf5")
    assert "missing STEAD columns: trace_category" in _error_line(
        _run_cli(f"--stead_dir={columns}", out, check_rc=1)
    )

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    shutil.copy(tiny_stead / "chunk1.csv", corrupt / "chunk1.csv")
    (corrupt / "chunk1.hdf5").write_bytes((tiny_stead / "chunk1.hdf5").read_bytes()[:1000])
    assert "not a readable HDF5 file" in _error_line(_run_cli(f"--stead_dir={corrupt}", out, check_rc=1))

    (tmp_path / "a_file").write_text("x")
    line = _error_line(
        _run_cli(f"--stead_dir={tiny_stead}", f"--output_dir={tmp_path / 'a_file' / 'sub'}", check_rc=1)
    )
    assert f"{tmp_path}/a_file/sub/_progress: cannot write the records there (" in line

    done = _run_cli(f"--stead_dir={tiny_stead}", f"--csv={tiny_stead / 'chunk1.csv'}", out, check_rc=1)
    assert "give --stead_dir or --csv/--hdf5, not both" in _error_line(done)
    done = _run_cli(f"--stead_dir={tiny_stead}", out, "--shard_mb=-1", check_rc=1)
    assert "--shard_mb=-1.0: must be positive" in _error_line(done)
    done = _run_cli(f"--stead_dir={tiny_stead}", out, "--encoding=float8")
    assert done.returncode != 0 and "--encoding" in done.stderr


def test_verify_names_a_damaged_shard(tiny_stead, tmp_path):
    out = tmp_path / "out"
    _run_cli(f"--stead_dir={tiny_stead}", f"--output_dir={out}", "--verify", "--processes=1", check_rc=0)
    shard = out / "train-00003-of-00008.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    done = _run_cli(f"--output_dir={out}", "--verify", check_rc=1)
    assert f"{shard}: sha256 differs" in done.stderr
    # Issue 22, item 10: the first bad record, not "unreadable after 0 records".
    assert re.search(rf"{shard}: record [1-9]\d* is unreadable \(corrupted record at \d+\)", done.stderr)
    (out / "manifest.json").unlink()
    assert "no such manifest" in _error_line(_run_cli(f"--output_dir={out}", "--verify", check_rc=1))


@pytest.mark.slow
def test_killed_run_resumes_byte_identical(tiny_stead, tmp_path):
    out = tmp_path / "out"
    args = [
        f"--stead_dir={tiny_stead}",
        f"--output_dir={out}",
        "--shard_mb=0.05",
        "--processes=1",
        "--seed=4",
    ]
    _run_cli(*args, check_rc=0)
    reference = _digests(out)
    assert len(reference) == 1 + 150  # manifest + one shard per trace
    shutil.rmtree(out)

    process = subprocess.Popen([*CLI, *args], stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / write.PROGRESS_DIR).glob("*.json"))) < 10:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / records.MANIFEST_NAME).exists(), "the run finished before it could be killed"
    assert 10 <= len(list(out.glob("*.tfrecord"))) < 150

    done = _run_cli(*args, check_rc=0)
    assert "resuming:" in done.stderr
    assert _digests(out) == reference
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_workers_do_not_change_the_output(tiny_stead, tmp_path):
    one = converter.convert(_config(tiny_stead, tmp_path), progress=False)
    reference = _digests(tmp_path)
    shutil.rmtree(tmp_path)
    two = converter.convert(dataclasses.replace(_config(tiny_stead, tmp_path), processes=2), progress=False)
    assert one == two and _digests(tmp_path) == reference


def test_real_metadata_formatting_survives(real_metadata_csv, tmp_path):
    stead_dir = tmp_path / "real"
    stead_dir.mkdir()
    shutil.copy(real_metadata_csv, stead_dir / "chunk2.csv")
    meta = stead.read_metadata(str(real_metadata_csv))
    rng = np.random.default_rng(0)
    with h5py.File(stead_dir / "chunk2.hdf5", "w") as f:
        for name in meta.trace_name:
            f.create_dataset(f"data/{name}", data=rng.normal(size=(6000, 3)).astype(np.float32))
    converter.convert(_config(stead_dir, tmp_path / "r", min_shards=1), progress=False)
    read = {r["trace_name"].decode(): r for rows in read_records(tmp_path / "r").values() for r in rows}
    assert len(read) == 100
    first = read["109C.TA_20060723155859_EV"]
    assert (
        first["source_id"] == b"8556349"
        and first["network_code"] == b"TA"
        and first["receiver_code"] == b"109C"
    )
    assert first["source_magnitude"] == np.float32(3.6) and first["coda_end_sample"] == 2896.0
    np.testing.assert_array_equal(first["snr_db"], np.float32([56.79999924, 55.40000153, 47.40000153]))
    assert np.isnan(read[meta.trace_name[0]]["source_depth_km"]) == np.isnan(meta.source_depth_km[0])
    assert read[meta.trace_name[36]]["source_id"] == b"ci10259305"


def test_fileio_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    with pytest.raises(RuntimeError), fileio.atomic_output(str(target)) as f:
        f.write(b"partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    fileio.write_atomic(str(target), "done")
    assert target.read_text() == "done"


def test_full_disk_is_one_line_and_resumes_byte_identical(tiny_stead, tmp_path, monkeypatch):
    config = _config(tiny_stead, tmp_path / "reference", min_shards=3)
    converter.convert(config, progress=False)
    reference = _digests(tmp_path / "reference")
    out = tmp_path / "out"
    config = dataclasses.replace(config, output_dir=str(out))
    shards_opened = []

    def fills(path):  # the disk fills during the fifth shard
        shards_opened.extend([path] if ".tfrecord.tmp-" in path else [])
        return ".tfrecord.tmp-" in path and len(shards_opened) > 4

    faults.filling_disk(monkeypatch, fills, room=100_000)
    with pytest.raises(plan.ConversionError) as error:
        converter.convert(config, progress=False)
    message = str(error.value)
    assert (
        message.startswith(f"{out}: no space left on the device") and "run the same command again" in message
    )
    assert "\n" not in message
    written = _digests(out)
    assert not [name for name in written if ".tmp-" in name] and records.MANIFEST_NAME not in written
    assert 0 < len(written) < len(reference) and all(reference[name] == d for name, d in written.items())

    monkeypatch.undo()  # the disk has room again
    resumed = converter.convert(config, progress=False)
    del (
        reference[records.MANIFEST_NAME],
        resumed["arguments"]["output_dir"],
    )  # the manifest names its directory
    assert {k: v for k, v in _digests(out).items() if k != records.MANIFEST_NAME} == reference
    expected = records.read_manifest(str(tmp_path / "reference"))
    del expected["arguments"]["output_dir"]
    assert resumed == expected


def test_a_rerun_with_other_arguments_never_leaves_the_old_manifest(tiny_stead, tmp_path, monkeypatch):
    # Issue 22, item 1: killed midway, a conversion with another seed left the first run's manifest
    # describing shards it had rewritten, and training read test traces as training ones.
    out = tmp_path / "out"
    converter.convert(_config(tiny_stead, out, min_shards=3), progress=False)
    other = _config(tiny_stead, out, min_shards=3, split=splits.SplitConfig(seed=7))
    real, written = write.write_and_record, []

    def killed_after_two_shards(job_and_progress):
        if len(written) == 2:
            raise KeyboardInterrupt  # as a kill would end it
        written.append(real(job_and_progress))
        return written[-1]

    monkeypatch.setattr(write, "write_and_record", killed_after_two_shards)
    with pytest.raises(KeyboardInterrupt):
        converter.convert(other, progress=False)
    assert len(written) == 2 and not (out / records.MANIFEST_NAME).exists()
    with pytest.raises(ValueError, match="the conversion is incomplete or was never run") as error:
        ConvertedDataset(str(out))
    assert "\n" not in str(error.value)
    monkeypatch.setattr(write, "write_and_record", real)
    resumed = converter.convert(other, progress=False)
    assert resumed["arguments"]["split"]["seed"] == 7 and not verify.verify(str(out))


def test_a_second_conversion_into_a_held_directory_is_refused(tiny_stead, tmp_path):
    # Issue 22, item 2: a second converter deleted the first one's temporaries.
    out = tmp_path / "out"
    with fileio.directory_lock(str(out), "a conversion"):
        with pytest.raises(ValueError, match=rf"^{out}: a conversion \(pid {os.getpid()}\) is using it;"):
            converter.convert(_config(tiny_stead, out), progress=False)
    converter.convert(_config(tiny_stead, out), progress=False)  # free again once the holder is done
    assert not verify.verify(str(out))


def test_a_changed_source_is_converted_again_not_resumed(tiny_stead, tmp_path):
    # Issue 22, item 3: a chunk replaced at the same size resumed as "wrote 0 traces".
    stead_dir, out = tmp_path / "stead", tmp_path / "out"
    shutil.copytree(tiny_stead, stead_dir)
    converter.convert(_config(stead_dir, out), progress=False)
    name = stead.read_metadata(str(stead_dir / "chunk2.csv")).trace_name[0]
    size = (stead_dir / "chunk2.hdf5").stat().st_size
    with h5py.File(stead_dir / "chunk2.hdf5", "r+") as f:
        f["data"][name][...] = f["data"][name][()] * 2.0  # same size, other samples
    assert (stead_dir / "chunk2.hdf5").stat().st_size == size
    converter.convert(_config(stead_dir, out), progress=False)
    with stead.WaveformFile(str(stead_dir / "chunk2.hdf5")) as f:
        expected = f.read(name)
    by_name = {r["trace_name"].decode(): r for rows in read_records(out).values() for r in rows}
    np.testing.assert_array_equal(by_name[name]["waveform"], expected)
    assert not verify.verify(str(out))


def test_hdf5_traces_without_csv_rows_are_counted_or_fail(tiny_stead, tmp_path):
    # Issue 22, item 4: a CSV cut after some rows, or an HDF5 without its CSV, dropped traces silently.
    stead_dir = tmp_path / "stead"
    shutil.copytree(tiny_stead, stead_dir)
    meta = pd.read_csv(stead_dir / "chunk2.csv", dtype=str, keep_default_na=False)
    meta[:50].to_csv(stead_dir / "chunk2.csv", index=False)  # cut cleanly after 50 of 90 rows
    written = converter.convert(_config(stead_dir, tmp_path / "out"), progress=False)
    assert written["skipped"] == {"not_in_csv": 40}
    assert sorted(n for n, reason in written["skipped_traces"] if reason == "not_in_csv") == sorted(
        meta.trace_name[50:]
    )
    with pytest.raises(ValueError, match=r"chunk2.hdf5: trace \S+ has no row in .*chunk2.csv \(40 traces\)"):
        converter.convert(_config(stead_dir, tmp_path / "failed", on_bad_trace="fail"), progress=False)
    (stead_dir / "chunk2.csv").unlink()
    with pytest.raises(ValueError, match=r"chunk2.hdf5: no matching CSV"):
        stead.find_pairs(str(stead_dir))


def test_repeated_names_and_targets_outside_their_bounds_are_skipped_and_counted(tiny_stead, tmp_path):
    # Issue 31: P at 1e12 samples or magnitude 1e30 went into target_stats; a repeated name was refused.
    stead_dir = tmp_path / "stead"
    shutil.copytree(tiny_stead, stead_dir)
    noise = pd.read_csv(stead_dir / "chunk1.csv", dtype=str, keep_default_na=False)
    quakes = pd.read_csv(stead_dir / "chunk2.csv", dtype=str, keep_default_na=False)
    bounds = {"p_arrival_sample": "1e12", "source_magnitude": "1e30", "source_distance_km": "-5"}
    for row, (column, value) in enumerate(bounds.items(), start=1):
        quakes.loc[row, column] = value
    # quakes' first row twice in its own CSV, and noise's first row in the other CSV as well
    pd.concat([quakes, quakes[:1], noise[:1]]).to_csv(stead_dir / "chunk2.csv", index=False)
    manifest = converter.convert(_config(stead_dir, tmp_path / "out"), progress=False)
    assert manifest["skipped"] == {"duplicate_trace_name": 4, **{f"{c}_out_of_bounds": 1 for c in bounds}}
    skipped = {name for name, _ in manifest["skipped_traces"]}
    assert skipped == {noise.trace_name[0], *quakes.trace_name[:4]}
    written = {r["trace_name"].decode() for rows in read_records(tmp_path / "out").values() for r in rows}
    assert len(written) == 145 and not written & skipped
    stats = manifest["target_stats"]
    assert stats["p_arrival_sample"]["max"] <= stead.TRACE_SAMPLES and stats["source_magnitude"]["max"] <= 10
    with pytest.raises(
        stead.BadTraceError, match=rf"chunk1.csv: trace {noise.trace_name[0]} appears more than once"
    ):
        converter.convert(_config(stead_dir, tmp_path / "fail", on_bad_trace="fail"), progress=False)
    quakes.to_csv(stead_dir / "chunk2.csv", index=False)
    with pytest.raises(stead.BadTraceError, match=r"p_arrival_sample 1e\+12 outside \[0, 6000\]"):
        converter.convert(_config(stead_dir, tmp_path / "fail", on_bad_trace="fail"), progress=False)


def test_a_shard_of_only_bad_traces_is_left_out_not_written_empty(bad_stead, tmp_path):
    # Issue 22, item 6: an empty shard never landed on S3, yet the manifest listed it.
    directory, _ = bad_stead
    out = tmp_path / "out"
    config = _config(directory, out, shard_mb=0.05)  # one trace a shard: the 5 bad ones leave 5 empty
    written = converter.convert(config, progress=False)
    listed = [s for info in written["splits"].values() for s in info["shards"]]
    assert all(s["count"] == 1 for s in listed) and len(listed) == 150 - 5
    on_disk = {p.name for p in out.glob("*.tfrecord")}
    assert on_disk == {s["file"] for s in listed} and not verify.verify(str(out))
    again = converter.convert(config, progress=False)  # resumes: the empty shards count as done
    assert again == written


def test_shards_of_an_earlier_conversion_are_removed(tiny_stead, tmp_path):
    # Issue 22, item 13: re-converting with fewer shards left the earlier ones beside the new.
    out = tmp_path / "out"
    converter.convert(_config(tiny_stead, out, min_shards=6), progress=False)
    written = converter.convert(_config(tiny_stead, out, min_shards=4), progress=False)
    listed = {s["file"] for info in written["splits"].values() for s in info["shards"]}
    assert {p.name for p in out.glob("*.tfrecord")} == listed
    assert {p.name[: -len(".json")] for p in (out / write.PROGRESS_DIR).glob("*.json")} == listed
