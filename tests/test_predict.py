"""The prediction command: STEAD files, records and continuous recordings through several exported models."""

import collections
import csv
import errno
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import obspy
import pytest
import tensorflow as tf
from conftest import REPO
from test_convert import read_records

from techtonics.cluster import distribute
from techtonics.conversion import converter, plan
from techtonics.core import errors, fileio, options
from techtonics.data import recordings, splits, stead
from techtonics.data.converted import ConvertedDataset
from techtonics.model import export
from techtonics.prediction import archive, continuous, inputs, predictor
from techtonics.synthetic import generator, stream
from techtonics.testing import faults
from techtonics.testing.exports import export_untrained
from techtonics.training import augmentation, evaluation, input_pipeline, tasks, trainer

OBSPY_DATA = os.path.join(os.path.dirname(obspy.__file__), "signal", "tests", "data")


def _export(directory, task="classification", seed=0, channels="ENZ", target="source_magnitude") -> str:
    """An untrained model, exported as the trainer does: predictions have every property but accuracy."""
    return export_untrained(os.path.join(directory, "export"), task, seed, channels, target)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "classification": _export(str(root / "classification"), seed=1),
        "magnitude": _export(str(root / "magnitude"), "regression", seed=2),
        "p_arrival": _export(str(root / "p_arrival"), "regression", seed=3, target="p_arrival_sample"),
        "z_only": _export(str(root / "z_only"), seed=4, channels="Z"),
    }


def _config(models_, output, **values) -> predictor.PredictConfig:
    return options.build(
        predictor.PredictConfig, {"progress": False, **values}, models=tuple(models_), output_dir=str(output)
    )


def _rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_stead_input_gives_every_trace_one_row_and_probabilities_that_sum_to_1(tiny_stead, exports, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    config = _config([exports["classification"], exports["magnitude"]], tmp_path, batch_size=32)
    summary = predictor.predict(config, inputs.stead_source(pairs))
    rows = _rows(tmp_path / "predictions.csv")
    names = [n for p in pairs for n in stead.read_metadata(p.csv).trace_name]
    assert [r["trace_name"] for r in rows] == names and summary["predictions"] == 150
    p = np.array(
        [[float(r["classification.p_noise"]), float(r["classification.p_earthquake"])] for r in rows]
    )
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert all(np.isfinite(float(r["magnitude.source_magnitude"])) for r in rows)
    assert json.loads((tmp_path / "summary.json").read_text())["predictions"] == 150


def test_a_trace_list_selects_traces(tiny_stead, exports, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    wanted = list(stead.read_metadata(pairs[1].csv).trace_name[:5])
    (tmp_path / "list.txt").write_text("\n".join(wanted) + "\n")
    source = inputs.stead_source(pairs, str(tmp_path / "list.txt"))
    predictor.predict(_config([exports["classification"]], tmp_path / "out"), source)
    assert [r["trace_name"] for r in _rows(tmp_path / "out" / "predictions.csv")] == wanted


def test_records_input_equals_evaluation(tiny_records, exports, tmp_path):
    source = inputs.records_source(str(tiny_records), "test")
    predictor.predict(_config([exports["classification"], exports["magnitude"]], tmp_path), source)
    rows = _rows(tmp_path / "predictions.csv")
    for name, column in (("classification", "classification.p_earthquake"), ("magnitude", None)):
        loaded, info = export.load_exported(exports[name])
        source = ConvertedDataset(str(tiny_records))
        config = input_pipeline.InputConfig(batch_size=32)
        evaluated = evaluation.predict_split(loaded, tasks.from_info(info), source, "test", config)
        names = [n.decode() for n in evaluated.metadata["trace_name"]]
        by_name = {r["trace_name"]: r for r in rows}
        if column:
            got = [float(by_name[n][column]) for n in names]
            expected = evaluated.values["p_earthquake"]
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
            in_files = [r["trace_name"].decode() for r in read_records(tiny_records)["test"]]
            assert [r["trace_name"] for r in rows] == in_files  # every record, in file order
        else:  # the regressor is evaluated on earthquakes with the target: a subset of the rows
            got = [float(by_name[n]["magnitude.source_magnitude"]) for n in names]
            np.testing.assert_allclose(got, evaluated.values["source_magnitude"], rtol=1e-5)


def test_several_models_in_one_pass_equal_each_model_alone(tiny_stead, exports, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    together = [exports["classification"], exports["magnitude"], exports["p_arrival"]]
    predictor.predict(_config(together, tmp_path / "all"), inputs.stead_source(pairs))
    rows = _rows(tmp_path / "all" / "predictions.csv")
    for path in together:
        out = tmp_path / os.path.basename(os.path.dirname(path))
        predictor.predict(_config([path], out, batch_size=7), inputs.stead_source(pairs))
        alone = _rows(out / "predictions.csv")
        for column in [c for c in alone[0] if c != "trace_name"]:
            np.testing.assert_allclose(
                [float(r[column]) for r in rows], [float(r[column]) for r in alone], rtol=1e-5, atol=1e-6
            )


def test_mirrored_strategy_gives_the_same_predictions(tiny_stead, exports, tmp_path):
    pairs = stead.find_pairs(str(tiny_stead))
    paths = [exports["classification"], exports["magnitude"]]
    predictor.predict(_config(paths, tmp_path / "one", batch_size=33), inputs.stead_source(pairs))
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    mirrored = tf.distribute.MirroredStrategy(devices)
    config = _config(paths, tmp_path / "two", batch_size=33)  # uneven slices, and a last batch of 18
    predictor.predict(config, inputs.stead_source(pairs), strategy=mirrored)
    one, two = _rows(tmp_path / "one" / "predictions.csv"), _rows(tmp_path / "two" / "predictions.csv")
    assert [r["trace_name"] for r in one] == [r["trace_name"] for r in two]
    for column in ("classification.p_earthquake", "magnitude.source_magnitude"):
        np.testing.assert_allclose(
            [float(r[column]) for r in one], [float(r[column]) for r in two], rtol=1e-5
        )


def test_obspys_bundled_real_recording_runs_end_to_end(exports, tmp_path):
    # BW.UH3, three components at 50 Hz, 230 s: resampled to 100 Hz, 18 windows at a 10 s stride.
    source = inputs.waveforms_source(
        [os.path.join(OBSPY_DATA, "BW.UH3._.SH?.D.2010.147.cut.slist.gz")], 10.0, False
    )
    summary = predictor.predict(_config([exports["classification"], exports["magnitude"]], tmp_path), source)
    rows = _rows(tmp_path / "predictions.csv")
    assert len(rows) == 18 and {r["station"] for r in rows} == {"BW.UH3..SH"}
    assert (
        rows[0]["window_start"] == "2010-05-27T16:24:03.67Z"
        and rows[1]["window_start"] == "2010-05-27T16:24:13.67Z"
    )
    assert (tmp_path / "detections.csv").exists() and summary["skipped"] == {}
    assert all(path.endswith("BW.UH3..SH.png") for path in summary["figures"])


def _write(path, traces: dict[str, np.ndarray], rate=100.0, start="2024-01-01T00:00:00"):
    """A miniSEED file of station SY.TEST with one trace per channel code."""
    stream = obspy.Stream(
        [
            obspy.Trace(
                data.astype(np.float32),
                {
                    "network": "SY",
                    "station": "TEST",
                    "channel": channel,
                    "sampling_rate": rate,
                    "starttime": obspy.UTCDateTime(start),
                },
            )
            for channel, data in traces.items()
        ]
    )
    stream.write(str(path), format="MSEED")
    return str(path)


def test_components_1_and_2_count_as_e_and_n_and_gaps_are_skipped_or_filled(exports, tmp_path):
    rng = np.random.default_rng(0)
    n = 180 * 100
    noise = {c: rng.normal(0, 50, n) for c in ("HH1", "HH2", "HHZ")}
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.mseed", {c: v[: 90 * 100] for c, v in noise.items()})
    _write(
        tmp_path / "in" / "b.mseed",
        {c: v[100 * 100 :] for c, v in noise.items()},
        start="2024-01-01T00:01:40",
    )
    paths = [exports["classification"]]
    glob_source = inputs.waveforms_source([str(tmp_path / "in" / "*.mseed")], 10.0, False)
    skipped = predictor.predict(_config(paths, tmp_path / "skip"), glob_source)
    directory_source = inputs.waveforms_source([str(tmp_path / "in")], 10.0, True)
    filled = predictor.predict(_config(paths, tmp_path / "fill"), directory_source)
    # 180 s make 13 windows at a 10 s stride; the gap at 90-100 s touches the 6 starting at 40-90 s.
    assert filled["predictions"] == 13 and filled["skipped"] == {}
    assert skipped["predictions"] == 7 and skipped["skipped"] == {"window_in_a_gap": 6}
    assert {r["station"] for r in _rows(tmp_path / "fill" / "predictions.csv")} == {"SY.TEST..HH"}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: _write(d / "z.mseed", {"HHZ": np.zeros(9000)}), "1 station_day_missing_EN"),
        (
            lambda d: _write(d / "slow.mseed", {f"BH{c}": np.zeros(3000) for c in "ENZ"}, rate=20.0),
            "3 sampling_rate_below_40_hz",
        ),
    ],
    ids=["missing-components", "sampling-rate"],
)
def test_continuous_input_that_gives_no_window_is_a_one_line_error(exports, tmp_path, make, message):
    (tmp_path / "in").mkdir()
    make(tmp_path / "in")
    with pytest.raises(
        errors.UserError, match=f"nothing to predict: every input was skipped \\({message}\\)"
    ):
        source = inputs.waveforms_source([str(tmp_path / "in")], 10.0, False)
        predictor.predict(_config([exports["classification"]], tmp_path / "out"), source)
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_recordings_shorter_than_a_window_are_one_line_before_any_model_loads(tmp_path):
    obspy.read().write(str(tmp_path / "short.mseed"), format="MSEED")  # ObsPy's example: 30 s
    with pytest.raises(
        errors.UserError, match="^no window to predict: the recordings of the 1 stations span none"
    ):
        inputs.waveforms_source([str(tmp_path)], 10.0, False)


def test_an_empty_recordings_directory_is_named_as_such(tmp_path):
    with pytest.raises(errors.UserError, match=f"^{tmp_path}: an empty directory$"):
        inputs.waveforms_source([str(tmp_path)], 10.0, False)


def test_overlapping_recordings_that_disagree_are_counted_named_and_the_first_is_used(
    exports, tmp_path, capsys
):
    # Issue 31, item 8: the second file replaced the first with no word, and an event of the first vanished.
    rng = np.random.default_rng(5)
    first = rng.normal(0, 50, 180 * 100)
    (tmp_path / "in").mkdir()
    a = _write(tmp_path / "in" / "a.mseed", {"HHZ": first})
    # b disagrees with a from 90 s to a's end and goes on to 210 s; c repeats a's last 30 s, which agree.
    b = _write(
        tmp_path / "in" / "b.mseed", {"HHZ": rng.normal(0, 50, 120 * 100)}, start="2024-01-01T00:01:30"
    )
    _write(tmp_path / "in" / "c.mseed", {"HHZ": first[150 * 100 :]}, start="2024-01-01T00:02:30")
    both = predictor.predict(
        _config([exports["z_only"]], tmp_path / "both"),
        inputs.waveforms_source([str(tmp_path / "in")], 10.0, False),
    )
    assert both["skipped"] == {"disagreeing_overlap": 1} and both["predictions"] == 16
    out = capsys.readouterr().out
    assert (
        f"SY.TEST..HH: Z of {b} disagrees with {a} for 90 s where they overlap; there the samples of {a}"
        in out
    )
    alone = predictor.predict(
        _config([exports["z_only"]], tmp_path / "alone"), inputs.waveforms_source([a], 10.0, False)
    )
    assert alone["predictions"] == 13
    rows = _rows(tmp_path / "both" / "predictions.csv")[:13]
    assert rows == _rows(tmp_path / "alone" / "predictions.csv")  # a's samples wherever a recorded


def test_a_z_only_model_needs_no_horizontal_components(exports, tmp_path):
    _write(tmp_path / "z.mseed", {"EHZ": np.random.default_rng(1).normal(0, 50, 9000)})
    source = inputs.waveforms_source([str(tmp_path / "z.mseed")], 10.0, False)
    assert predictor.predict(_config([exports["z_only"]], tmp_path / "out"), source)["predictions"] == 4


def test_unreadable_files_are_counted_and_a_missing_obspy_is_one_line(exports, tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not a recording\n")
    _write(tmp_path / "in" / "good.mseed", {f"HH{c}": np.zeros(7000) for c in "ENZ"})
    source = inputs.waveforms_source([str(tmp_path / "in")], 10.0, False)
    assert source.skipped == {"unreadable_file": 1}
    with pytest.raises(errors.UserError, match="notes.txt: no readable recordings in the 1 files given"):
        inputs.waveforms_source([str(tmp_path / "in" / "notes.txt")], 10.0, False)
    monkeypatch.setitem(sys.modules, "obspy", None)
    with pytest.raises(
        errors.UserError, match=r"continuous input needs ObsPy: pip install 'techtonics\[waveforms\]'"
    ):
        recordings.import_obspy()


def test_bad_models_and_outputs_are_one_line_errors(exports, tiny_records, tmp_path):
    source = inputs.records_source(str(tiny_records), "test")
    with pytest.raises(errors.UserError, match="not a TECHTONICS export"):
        predictor.predict(_config([str(tmp_path)], tmp_path / "out"), source)
    other = tmp_path / "other"
    os.system(f"cp -r {os.path.dirname(exports['classification'])} {other}")
    info = json.loads((other / "export" / export.EXPORT_INFO).read_text())
    (other / "export" / export.EXPORT_INFO).write_text(json.dumps({**info, "export_version": 1}))
    with pytest.raises(errors.UserError, match="exported by another version of TECHTONICS"):
        predictor.predict(_config([str(other / "export")], tmp_path / "out"), source)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(errors.UserError, match="a_file/out: cannot write the predictions there"):
        predictor.predict(_config([exports["classification"]], tmp_path / "a_file" / "out"), source)


def test_a_damaged_export_is_one_line_naming_what_is_missing_or_short(exports, tiny_records, tmp_path):
    # Issue 31, item 5: a deleted index or a truncated data file gave tracebacks from predict.
    source = inputs.records_source(str(tiny_records), "test")
    damaged = tmp_path / "damaged" / "export"
    shutil.copytree(exports["z_only"], damaged)
    data = damaged / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(
        errors.UserError,
        match=rf"^{damaged}: a damaged export: variables/variables.data-00000-of-00001 \(1,000 bytes\) "
        "shorter than variables/variables.index says; export the model again$",
    ):
        predictor.predict(_config([str(damaged)], tmp_path / "out"), source)
    (damaged / "variables" / "variables.index").unlink()
    data.unlink()
    with pytest.raises(
        errors.UserError,
        match=rf"^{damaged}: a damaged export: variables/variables.index, variables/variables.data-\* "
        "missing; export the model again$",
    ):
        predictor.predict(_config([str(damaged)], tmp_path / "out"), source)


def test_the_command_line_names_what_is_wrong_in_one_line(exports, tmp_path):
    command = [sys.executable, "-m", "techtonics.predict", f"--model={exports['classification']}"]
    # --output, the old name of --output_dir, still works.
    done = subprocess.run(
        [*command, f"--output_dir={tmp_path}", f"--waveforms={tmp_path}/nothing*"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].endswith(
        "nothing*: no such file, directory or matching files"
    )
    command.append(f"--output_dir={tmp_path}")
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.stderr.strip().splitlines()[-1].startswith("error: give one input: --stead_dir")
    done = subprocess.run(
        [*command, f"--stead_dir={tmp_path}", "--csv=a.csv"], capture_output=True, text=True, cwd=REPO
    )
    assert done.stderr.strip().splitlines()[-1] == "error: give --stead_dir or --csv/--hdf5, not both"


def _train_detector(root, **recipe) -> str:
    """A classifier trained on a synthetic STEAD at root: enough to find clear earthquakes in a stream."""
    if not (root / "records").exists():
        generator.write_synthetic_stead(str(root / "stead"), earthquakes=500, noise=500, seed=11, processes=2)
        convert_config = plan.ConvertConfig(
            pairs=tuple(stead.find_pairs(str(root / "stead"))),
            output_dir=str(root / "records"),
            split=splits.SplitConfig(validation_fraction=0.1, test_fraction=0.1, seed=0),
            processes=2,
        )
        converter.convert(convert_config, progress=False)
    values = {
        "image_channels": "ENZ",
        "epochs": 6,
        "batch_size": 32,
        "shuffle_buffer": 1000,
        "cache": "memory",
        "evaluate_split": "none",
        **recipe,
    }
    model_dir = root / ("augmented" if recipe else "model")
    trainer.train_and_evaluate(
        options.build(trainer.TrainConfig, values, records=str(root / "records")), str(model_dir)
    )
    return str(model_dir / "export")


@pytest.fixture(scope="module")
def detector_root(tmp_path_factory):
    return tmp_path_factory.mktemp("detector")


@pytest.fixture(scope="module")
def detector(detector_root) -> str:
    """A classifier trained here on synthetic STEAD with today's recipe: P where STEAD puts it."""
    return _train_detector(detector_root)


@pytest.mark.slow
def test_an_augmented_detector_finds_an_earthquake_30_s_into_the_window_that_the_plain_one_misses(
    detector, detector_root
):
    # Issue 20: trained on STEAD's placement alone, a detector calls P at 30 s noise.
    recipe = {f"augment_{k}": v for k, v in options.flat(augmentation.RECOMMENDED).items()}
    augmented = _train_detector(detector_root, epochs=12, **recipe)
    converted, task = ConvertedDataset(str(detector_root / "records")), tasks.get("classification")
    config = input_pipeline.InputConfig(batch_size=64)
    mean_p = {}
    for name, path in (("plain", detector), ("augmented", augmented)):
        model, _ = export.load_exported(path)
        placed = evaluation.predict_split(model, task, converted, "test", config, p_at_s=30.0)
        mean_p[name] = placed.values["p_earthquake"][placed.metadata["label"] == 1].mean()
    # Margins, not the measured 0.01 and 0.8-0.9: training on another CPU draws other batches' floats.
    assert mean_p["plain"] < 0.2 and mean_p["augmented"] > 0.6, mean_p


@pytest.mark.slow
def test_earthquakes_in_a_synthetic_stream_are_detected_at_their_times_and_noise_hours_are_quiet(
    detector, tmp_path
):
    # Two hours: three earthquakes in the first, none in the second.
    events = [
        stream.Event(700.0, 3.0, 30.0),
        stream.Event(1900.0, 2.8, 25.0),
        stream.Event(3100.0, 3.4, 50.0),
    ]
    path = stream.write_stream(str(tmp_path / "in" / "stream.mseed"), 7200.0, events, seed=3)
    # A classifier trained for a minute puts a few noise windows near 0.5; its earthquakes are near 1.
    config = _config([detector], tmp_path / "out", threshold=0.9)
    summary = predictor.predict(config, inputs.waveforms_source([path], 10.0, False))
    detections = _rows(tmp_path / "out" / "detections.csv")
    start = obspy.UTCDateTime(stream.START)
    found = [(obspy.UTCDateTime(d["start"]) - start, obspy.UTCDateTime(d["end"]) - start) for d in detections]
    assert summary["predictions"] == 715 and len(found) == len(events), found
    for event, (begin, end) in zip(events, found):
        assert begin - 10.0 <= event.p_time_s <= end + 10.0  # within a stride of the merged windows
    assert all(begin < 3600.0 for begin, _ in found)  # the noise-only hour is quiet
    assert os.path.exists(tmp_path / "out" / "figures" / f"{detections[0]['station']}.png")


def test_a_stride_below_a_sample_or_between_samples_is_refused():
    with pytest.raises(errors.UserError, match=r"--stride=0.001: must be at least 0.01"):
        _config(["m"], "out", stride=0.001)  # 0 samples: no window would ever follow the first
    with pytest.raises(errors.UserError, match=r"^--stride=0.015: give a whole number of samples"):
        _config(["m"], "out", stride=0.015)  # windows start on samples: it would be rounded


@pytest.mark.parametrize(
    "stride, message",
    [
        ("nan", "error: --stride=nan: must be a finite number"),
        ("1e308", "1e+308 is not a number in the range [0.01, 86400.0]"),
    ],
)
def test_a_stride_that_is_not_finite_or_beyond_a_day_is_one_line(exports, tmp_path, stride, message):
    # Issue 31, item 4: both ended in a traceback inside a tf.data PyFunc.
    command = [sys.executable, "-m", "techtonics.predict", f"--model={exports['classification']}"]
    done = subprocess.run(
        [*command, f"--output_dir={tmp_path}", f"--waveforms={OBSPY_DATA}/BW.UH3.*", f"--stride={stride}"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert message in done.stderr.strip().splitlines()[-1]


def test_prediction_stays_on_one_machine_inside_a_cluster_job(monkeypatch):
    cluster = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}'
    monkeypatch.setenv("TF_CONFIG", cluster)
    assert distribute.machine_strategy("auto") is tf.distribute.get_strategy()
    with pytest.raises(errors.UserError, match="--strategy=multi_worker: use one of auto, default, mirrored"):
        _config(["m"], "out", strategy="multi_worker")


def test_a_second_prediction_into_a_held_output_is_refused(tiny_stead, exports, tmp_path):
    source = inputs.stead_source(stead.find_pairs(str(tiny_stead)))
    with fileio.directory_lock(str(tmp_path), "a prediction"):
        with pytest.raises(
            errors.UserError, match=rf"^{tmp_path}: a prediction \(pid {os.getpid()}\) is using it"
        ):
            predictor.predict(_config([exports["classification"]], tmp_path), source)
    assert not (tmp_path / "predictions.csv").exists()


def test_a_corrupt_file_or_an_r_t_station_does_not_stop_the_others(exports, tmp_path):
    # Issue 22, item 5: corrupt Steim2 frames or BHR/BHT channels ended the run with a traceback.
    rng = np.random.default_rng(3)
    (tmp_path / "in").mkdir()
    good = obspy.Stream(
        [
            obspy.Trace(
                rng.normal(0, 50, 9000).astype(np.int32),
                {"network": "SY", "station": s, "channel": f"HH{c}", "sampling_rate": 100.0},
            )
            for s in ("GOOD", "BAD")
            for c in "ENZ"
        ]
    )
    good.select(station="GOOD").write(str(tmp_path / "in" / "good.mseed"), format="MSEED", encoding="STEIM2")
    bad = tmp_path / "in" / "bad.mseed"
    good.select(station="BAD").write(str(bad), format="MSEED", encoding="STEIM2", reclen=512)
    data = bytearray(bad.read_bytes())
    for record in range(0, len(data), 512):  # headers intact, Steim frames garbage
        data[record + 64 : record + 512] = bytes(rng.integers(0, 256, 448, dtype=np.uint8))
    bad.write_bytes(bytes(data))
    _write(tmp_path / "in" / "rotated.mseed", {f"BH{c}": rng.normal(0, 50, 9000) for c in "RTZ"})
    source = inputs.waveforms_source([str(tmp_path / "in")], 10.0, False)
    summary = predictor.predict(_config([exports["z_only"]], tmp_path / "out"), source)
    stations = {r["station"] for r in _rows(tmp_path / "out" / "predictions.csv")}
    assert stations == {"SY.GOOD..HH", "SY.TEST..BH"}  # the rotated station's Z is enough for a Z model
    # Its headers intact, the corrupt file passes grouping and is skipped when its samples are decoded.
    assert summary["skipped"] == {"unknown_component": 2, "undecodable_file": 1}
    assert summary["predictions"] == 8


def test_a_rerun_removes_what_an_earlier_run_left(tiny_stead, exports, tmp_path):
    # Issue 22, item 13: predictions.csv.tmp-* of a killed run, and older runs' figures, stayed.
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "XX.OLD..HH.png").write_bytes(b"an earlier run's station")
    (tmp_path / "predictions.csv.tmp-0123456789ab").write_text("trace_name\n")
    source = inputs.stead_source(stead.find_pairs(str(tiny_stead)))
    predictor.predict(_config([exports["classification"]], tmp_path), source)
    assert not (tmp_path / "figures").exists() and not list(tmp_path.glob("*.tmp-*"))


def test_a_full_disk_is_one_line_and_leaves_no_temporary(tiny_stead, exports, tmp_path, monkeypatch):
    # Issue 22, item 9: predict's output on a full disk was a 45-line traceback, and a .tmp file stayed.
    source = inputs.stead_source(stead.find_pairs(str(tiny_stead)))
    faults.filling_disk(monkeypatch, lambda path: "predictions.csv.tmp-" in path, room=2_000)
    with pytest.raises(errors.UserError, match=r"predictions.csv: no space left on the device; free space"):
        predictor.predict(_config([exports["classification"]], tmp_path, batch_size=16), source)
    assert not list(tmp_path.glob("predictions.csv*"))


def _onto_a_full_device(monkeypatch, fills) -> None:
    """Files whose path `fills` says are written to /dev/full, a real full disk: a write that fills the
    buffer fails, and a smaller file fails when closing flushes it."""
    real_open = fileio.open_file
    monkeypatch.setattr(
        fileio,
        "open_file",
        lambda path, mode="rb": real_open("/dev/full" if "w" in mode and fills(path) else path, mode),
    )


def test_a_full_disk_is_a_line_of_its_own_after_the_progress_bar(
    tiny_stead, exports, tmp_path, monkeypatch, capsys
):
    # Issue 31, item 9: the error was glued to the progress line, and a flush on closing named no path.
    source = inputs.stead_source(stead.find_pairs(str(tiny_stead))[:1])
    _onto_a_full_device(monkeypatch, lambda path: "predictions.csv.tmp-" in path)
    with pytest.raises(errors.UserError, match=rf"^{tmp_path}/predictions.csv: {errors.NO_SPACE}$"):
        predictor.predict(_config([exports["classification"]], tmp_path, progress=True), source)
    assert capsys.readouterr().out.endswith("\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [fileio.LOCK_NAME]


def test_a_full_disk_names_the_figure_and_leaves_no_empty_folder(exports, tmp_path, monkeypatch):
    # Issue 31, items 9 and 11: the line named no path, figures/ stayed empty, and .write-check stayed.
    source = inputs.waveforms_source(
        [os.path.join(OBSPY_DATA, "BW.UH3._.SH?.D.2010.147.cut.slist.gz")], 10.0, False
    )
    _onto_a_full_device(monkeypatch, lambda path: "/figures/" in path)
    with pytest.raises(OSError) as raised:
        predictor.predict(_config([exports["classification"]], tmp_path), source)
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "figures" / "BW.UH3..SH.png")  # what the error line names
    # What stays is what a rerun resumes from: the settings and the finished station-days.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fileio.LOCK_NAME, "chunks", "run.json"])


def test_a_prediction_leaves_no_write_check(tiny_stead, exports, tmp_path):
    source = inputs.stead_source(stead.find_pairs(str(tiny_stead))[:1])
    predictor.predict(_config([exports["classification"]], tmp_path), source)
    assert sorted(p.name for p in tmp_path.iterdir()) == [fileio.LOCK_NAME, "predictions.csv", "summary.json"]


def test_an_unreadable_hdf5_file_is_skipped_counted_and_named(tiny_stead, exports, tmp_path, capsys):
    # Issue 22, item 9: predict --stead_dir on a truncated HDF5 ended in a 53-line traceback.
    stead_dir = tmp_path / "stead"
    shutil.copytree(tiny_stead, stead_dir)
    truncated = stead_dir / "chunk2.hdf5"
    truncated.write_bytes(truncated.read_bytes()[:300_000])
    source = inputs.stead_source(stead.find_pairs(str(stead_dir)))
    summary = predictor.predict(_config([exports["classification"]], tmp_path / "out"), source)
    assert summary["predictions"] == 60 and summary["skipped"] == {"in an unreadable HDF5 file": 90}
    assert f"warning: {truncated}: not a readable HDF5 file" in capsys.readouterr().err


def test_filled_gaps_join_their_edges_and_are_marked_in_both_outputs(exports, tmp_path):
    # Issue 22, item 15: a median fill stepped at the gap's edge, and the step was detected (p 0.58).
    rng = np.random.default_rng(1)
    t = np.arange(180 * 100) / 100.0
    swell = {
        c: 2000.0 * np.sin(2 * np.pi * 0.15 * t + p) + rng.normal(0, 5, t.size)
        for c, p in zip("ENZ", (0, 1, 2))
    }
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.mseed", {f"HH{c}": v[: 90 * 100] for c, v in swell.items()})
    _write(
        tmp_path / "in" / "b.mseed",
        {f"HH{c}": v[100 * 100 :] for c, v in swell.items()},
        start="2024-01-01T00:01:40",
    )
    store = archive.FileArchive([str(tmp_path / "in")], collections.Counter())
    (chunk,) = archive.plan(store.stations, None, None, stride=1000)
    _, windows = continuous.read(store, chunk, "ENZ", True)
    windows = list(windows)
    steady = np.abs(np.diff(np.stack([swell[c] for c in "ENZ"], axis=1), axis=0)).max()
    for window, *_ in windows:
        assert np.abs(np.diff(window, axis=0)).max() <= steady  # no step anywhere, filled or not
    assert [w[2] for w in windows] == [0.0] * 4 + [10.0] * 6 + [0.0] * 3

    config = _config([exports["classification"]], tmp_path / "out", threshold=1e-6)  # every window detects
    predictor.predict(config, inputs.waveforms_source([str(tmp_path / "in")], 10.0, True))
    assert [float(r["gap_filled_s"]) for r in _rows(tmp_path / "out" / "predictions.csv")] == [
        w[2] for w in windows
    ]
    (event,) = _rows(tmp_path / "out" / "detections.csv")
    assert (event["windows"], event["filled_windows"]) == ("13", "6")


def test_model_names_are_the_directories_and_unique():
    # The columns of predictions.csv and what experiments/continuous.score reads back agree on these.
    paths = ["a/classification/export", "b/classification/export/", "c/magnitude", "d/model/export"]
    assert predictor.model_names(paths) == ["classification", "classification_2", "magnitude", "model"]
