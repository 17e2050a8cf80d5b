"""Station archives, predicted one chunk (station-day) at a time: the outputs equal one pass over the whole
span, chunked, sharded by station-day and merged, or killed and resumed; SDS, ranges, station patterns."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import obspy
import pytest
from conftest import REPO

from techtonics.core import errors, options
from techtonics.data import stead
from techtonics.prediction import archive, chunk_store, inputs, merge, predictor, sharding
from techtonics.synthetic import stream
from techtonics.testing.exports import export_untrained

START = obspy.UTCDateTime("2024-01-01T00:00:00")
OUTPUTS = ("predictions.csv", "detections.csv", "detections.xml", "picks.csv")
HALF_HOUR = (
    1800.0  # the chunks of the identity tests: four in two hours, so edges fall inside events and gaps
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("models")
    return [
        export_untrained(str(root / "classification" / "export"), "classification", seed=1),
        export_untrained(str(root / "p_arrival" / "export"), "regression", 3, target="p_arrival_sample"),
    ]


def _write(path, data: np.ndarray, start, station="STA01", channels="HH", rate=stead.SAMPLING_RATE_HZ):
    """One MiniSEED file of (samples, 3) E/N/Z data starting at start."""
    traces = [
        obspy.Trace(
            np.ascontiguousarray(data[:, i], np.float32),
            {"network": "XX", "station": station, "channel": f"{channels}{c}", "sampling_rate": rate},
        )
        for i, c in enumerate(stead.CHANNELS)
    ]
    for trace in traces:
        trace.stats.starttime = start
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    obspy.Stream(traces).write(str(path), format="MSEED", encoding="FLOAT32")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Two hours of one station in five files: an earthquake whose windows cross the chunk edge at 30 min,
    a gap across the edge at 60 min, a file edge 5 s past the one at 90 min, and two files that overlap
    for 10 s and agree."""
    data = stream.waveforms(7200.0, [stream.Event(1790.0, 3.0, 30.0), stream.Event(5380.0, 3.5, 40.0)])
    directory = tmp_path_factory.mktemp("recording")
    pieces = [(0, 1810), (1800, 3590), (3650, 5405), (5405, 7200)]
    for a, b in pieces:
        _write(directory / f"{a:05d}.mseed", data[a * 100 : b * 100], START + a)
    return str(directory)


def _predict(models_, output_dir, source, **values) -> dict:
    values = {"progress": False, "batch_size": 16, **values}
    config = options.build(predictor.PredictConfig, values, models=tuple(models_), output_dir=str(output_dir))
    return predictor.predict(config, source)


def _median_probability(directory) -> float:
    """A threshold that makes an untrained classifier detect some windows and not others."""
    with open(os.path.join(directory, "predictions.csv")) as f:
        header = f.readline().strip().split(",")
        column = header.index("classification.p_earthquake")
        return float(np.median([float(line.split(",")[column]) for line in f]))


def _same(a, b) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("fill_gaps", [False, True], ids=["gaps-skipped", "gaps-filled"])
def test_chunked_prediction_equals_one_pass_over_the_whole_span(models, recording, tmp_path, fill_gaps):
    def source(chunk_seconds):
        return inputs.waveforms_source([recording], 10.0, fill_gaps, chunk_seconds=chunk_seconds)

    _predict(models, tmp_path / "probe", source(1e9), threshold="0.01")
    threshold = str(_median_probability(tmp_path / "probe"))
    whole = _predict(models, tmp_path / "whole", source(1e9), threshold=threshold)  # one chunk: 2001-2033
    chunked = _predict(models, tmp_path / "chunked", source(HALF_HOUR), threshold=threshold)
    _same(tmp_path / "whole", tmp_path / "chunked")
    assert (whole["station_days"], chunked["station_days"]) == (1, 4)
    starts = [
        row.split(",")[1] for row in (tmp_path / "whole" / "predictions.csv").read_text().splitlines()[1:]
    ]
    assert len(starts) == len(set(starts)) == whole["predictions"]  # no window twice
    # 715 windows start on the 10 s grid; those touching the 60 s gap (11) are skipped unless filled, and
    # the one that lies in it (3590-3650 s) has no sample to fill from.
    assert whole["predictions"] == (715 - 1 if fill_gaps else 715 - 11)
    assert whole["detections"] > 2
    assert not (tmp_path / "chunked" / chunk_store.DIRECTORY).exists()  # a whole run leaves no chunk files


def test_the_chunks_windows_are_exactly_one_pass_on_one_grid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        origin = 1.7e9 + rng.uniform(0, 86_400) + rng.integers(0, 100) / 100.0
        span = rng.uniform(60, 5 * 86_400)
        station = archive.Station("XX.STA01..HH", {"HHZ"}, [("f", origin, origin + span)])
        stride = int(rng.choice([1, 7, 1000, 6000, 8_640_000]))
        chunks = archive.plan([station], None, None, stride, chunk_seconds=float(rng.choice([600, 86_400])))
        ks = np.concatenate([np.arange(c.first, c.first + c.windows) for c in chunks])
        last = int(np.floor((round(span * 100, 3) + 1 - stead.TRACE_SAMPLES) / stride))
        assert ks.tolist() == list(range(last + 1))  # every window of the one pass, once, in order
        assert [c.index for c in chunks] == list(range(len(chunks))) and chunks[-1].last


def _days(root, station, days, seconds=(600, 600), rate=stead.SAMPLING_RATE_HZ, channels="HH"):
    """SDS day files of one station: on each day, its last and first `seconds` (around midnight)."""
    for day in days:
        t = START + day * 86_400
        year, doy = t.year, t.julday
        for c in stead.CHANNELS:
            folder = os.path.join(root, str(year), "XX", station, f"{channels}{c}.D")
            os.makedirs(folder, exist_ok=True)
        pieces = [(t, seconds[0]), (t + 86_400 - seconds[1], seconds[1])]
        data = np.concatenate(
            [stream.waveforms(s, [], seed=day * 2 + i, station_index=1) for i, (_, s) in enumerate(pieces)]
        )
        stream_ = obspy.Stream()
        offset = 0
        for t0, s in pieces:
            n = int(s * rate)
            for i, c in enumerate(stead.CHANNELS):
                header = {
                    "network": "XX",
                    "station": station,
                    "channel": f"{channels}{c}",
                    "sampling_rate": rate,
                }
                trace = obspy.Trace(np.ascontiguousarray(data[offset : offset + n, i]), header)
                trace.stats.starttime = t0
                stream_.append(trace)
            offset += n
        for c in stead.CHANNELS:
            path = os.path.join(
                root,
                str(year),
                "XX",
                station,
                f"{channels}{c}.D",
                f"XX.{station}..{channels}{c}.D.{year}.{doy:03d}",
            )
            stream_.select(channel=f"{channels}{c}").write(path, format="MSEED", encoding="FLOAT32")


@pytest.fixture(scope="module")
def sds(tmp_path_factory):
    """Two stations, days 0-3 of 2024, ten minutes either side of each midnight."""
    root = str(tmp_path_factory.mktemp("sds"))
    for station in ("STA01", "STA02"):
        _days(root, station, range(4))
    return root


def _sds_source(root, start="2024-01-01", end="2024-01-04", **values):
    config = options.build(inputs.SourceConfig, {"sds_root": root, "start": start, "end": end, **values})
    return config.source(10.0, False)


def test_an_sds_archive_is_read_over_the_range_for_the_stations_chosen(models, sds, tmp_path, monkeypatch):
    opened = []
    read = obspy.read
    monkeypatch.setattr(obspy, "read", lambda path, *a, **k: opened.append(path) or read(path, *a, **k))
    source = _sds_source(sds, start="2024-01-02", end="2024-01-03", stations=("XX.STA02",))
    summary = _predict(models[:1], tmp_path / "out", source)
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()[1:]
    assert {r.split(",")[0] for r in rows} == {"XX.STA02..HH"}
    starts = [r.split(",")[1] for r in rows]
    # Windows start within the day: its first ten minutes (55) and its last ten (54 end by midnight, and 6
    # more that end in the next day's file).
    assert starts[0] == "2024-01-02T00:00:00.00Z" and starts[-1] == "2024-01-02T23:59:50.00Z"
    assert summary["predictions"] == 55 + 60 and summary["station_days"] == 1
    days = {os.path.basename(p).rsplit(".", 2)[-2:][1] for p in opened if "STA02" in p}
    assert days <= {"001", "002", "003"} and "002" in days  # the day, and the client's border around it
    assert not [p for p in opened if "STA01" in p]


def test_sds_and_the_same_files_given_as_waveforms_predict_the_same(models, sds, tmp_path):
    _predict(models[:1], tmp_path / "sds", _sds_source(sds, stations=("XX.STA01",)))
    files = os.path.join(sds, "2024", "XX", "STA01")
    source = options.build(
        inputs.SourceConfig, {"waveforms": (files,), "start": "2024-01-01", "end": "2024-01-04"}
    )
    _predict(models[:1], tmp_path / "files", source.source(10.0, False))
    assert (tmp_path / "sds" / "predictions.csv").read_bytes() == (
        tmp_path / "files" / "predictions.csv"
    ).read_bytes()


def test_station_day_shards_merged_equal_one_run_across_a_detection_at_the_shard_edge(
    models, recording, tmp_path
):
    def source(shard):
        return inputs.waveforms_source([recording], 10.0, False, shard, chunk_seconds=HALF_HOUR)

    # Every window detects, so one detection runs from the gap (60 min) over the shards' edge at 90 min.
    one = _predict(models, tmp_path / "one", source(sharding.WHOLE), threshold="0.01")
    for index in range(3):  # 4 chunks in 3 shards: 2 | 1 | 1
        shard = sharding.Shard(index, 3)
        _predict(models, shard.output_dir(str(tmp_path / "sharded")), source(shard), threshold="0.01")
    merged = merge.merge([str(tmp_path / "sharded")], str(tmp_path / "sharded"))
    _same(tmp_path / "one", tmp_path / "sharded")
    assert merged["detections"] == one["detections"] and merged["skipped"] == one["skipped"]
    shards = [
        json.loads((tmp_path / "sharded" / sharding.Shard(i, 3).name / "summary.json").read_text())
        for i in range(3)
    ]
    assert [s["chunks"] for s in shards] == [[0, 2], [2, 3], [3, 4]]
    assert sum(s["detections"] for s in shards) > one["detections"]  # a detection that crossed an edge is one


class _Killed(BaseException):
    """Stands for a kill at a chosen moment: nothing after it runs."""


def test_a_run_killed_after_some_station_days_resumes_to_the_uninterrupted_outputs(
    models, recording, tmp_path, monkeypatch
):
    def source():
        return inputs.waveforms_source([recording], 10.0, False, chunk_seconds=HALF_HOUR)

    _predict(models, tmp_path / "whole", source())
    write, written = chunk_store.ChunkStore.write, []

    def killed_at_the_third(self, index, *args):
        if len(written) == 2:
            raise _Killed()
        written.append(index)
        write(self, index, *args)

    monkeypatch.setattr(chunk_store.ChunkStore, "write", killed_at_the_third)
    with pytest.raises(_Killed):
        _predict(models, tmp_path / "resumed", source())
    assert sorted(os.listdir(tmp_path / "resumed" / chunk_store.DIRECTORY)) == [
        "00000000.npz",
        "00000001.npz",
    ]
    assert not (tmp_path / "resumed" / "predictions.csv").exists()
    monkeypatch.setattr(chunk_store.ChunkStore, "write", write)
    resumed = _predict(models, tmp_path / "resumed", source())
    _same(tmp_path / "whole", tmp_path / "resumed")
    assert resumed["resumed_station_days"] == 2 and resumed["station_days"] == 4


@pytest.mark.parametrize(
    "change, named",
    [({"stride": 20.0}, "stride"), ({"threshold": "0.3"}, "threshold"), ({"models": 1}, "models")],
)
def test_a_rerun_with_other_settings_is_refused_in_one_line(
    models, recording, tmp_path, monkeypatch, change, named
):
    def source(stride=10.0):
        return inputs.waveforms_source([recording], stride, False, chunk_seconds=HALF_HOUR)

    write = chunk_store.ChunkStore.write
    monkeypatch.setattr(chunk_store.ChunkStore, "write", lambda *a: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        _predict(models, tmp_path / "out", source())
    monkeypatch.setattr(chunk_store.ChunkStore, "write", write)
    chosen = models[: change.pop("models", len(models))]
    with pytest.raises(
        errors.UserError, match=f"^{tmp_path / 'out'}: holds a prediction with other {named} "
    ):
        _predict(chosen, tmp_path / "out", source(change.get("stride", 10.0)), **change)


def test_a_refused_rerun_leaves_the_finished_outputs_and_an_archive_that_changed_is_not_resumed(
    models, tmp_path, monkeypatch
):
    root = str(tmp_path / "sds")
    _days(root, "STA01", range(3))
    finished = _predict(models[:1], tmp_path / "done", _sds_source(root))
    kept = sorted(os.listdir(tmp_path / "done"))
    with pytest.raises(errors.UserError, match="holds a prediction with other threshold"):
        _predict(models[:1], tmp_path / "done", _sds_source(root), threshold="0.3")
    assert sorted(os.listdir(tmp_path / "done")) == kept and finished["predictions"]
    # Killed after one station-day; then a station that sorts first joins the archive: the chunk numbers
    # now stand for other station-days.
    write = chunk_store.ChunkStore.write
    monkeypatch.setattr(chunk_store.ChunkStore, "write", lambda *a: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        _predict(models[:1], tmp_path / "out", _sds_source(root))
    monkeypatch.setattr(chunk_store.ChunkStore, "write", write)
    _days(root, "STA00", range(3))
    with pytest.raises(
        errors.UserError, match=r"holds a prediction with other station-days \(the archive changed"
    ):
        _predict(models[:1], tmp_path / "out", _sds_source(root))


def test_shards_of_other_ranges_are_not_merged(models, sds, tmp_path):
    for index, start in enumerate(("2024-01-01", "2024-01-02")):
        shard = sharding.Shard(index, 2)
        config = options.build(inputs.SourceConfig, {"sds_root": sds, "start": start, "end": "2024-01-04"})
        _predict(models[:1], shard.output_dir(str(tmp_path)), config.source(10.0, False, shard))
    with pytest.raises(errors.UserError, match="summary.json's (chunks|run|shard) .* differs"):
        merge.merge([str(tmp_path)], str(tmp_path))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"start": "2024-01-03", "end": "2024-01-02"}, "--start=2024-01-03 is not before --end=2024-01-02"),
        ({"start": "yesterday"}, "--start=yesterday: not a UTC time"),
        ({"end": None}, "--sds_root: give --start and --end"),
        ({"start": "2025-06-01", "end": "2025-06-02"}, "no window to predict: .* within --start and --end"),
        ({"stations": ("XX.NOPE",)}, "--stations=XX.NOPE: matches none of the 2 stations"),
    ],
)
def test_a_bad_range_or_station_pattern_is_one_line_before_anything_is_written(sds, values, message):
    with pytest.raises(errors.UserError, match=message):
        _sds_source(sds, **{"start": "2024-01-01", "end": "2024-01-04", **values})


def test_a_directory_without_sds_layout_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not an archive\n")
    with pytest.raises(errors.UserError, match=f"--sds_root={tmp_path}: no day files in SDS's layout"):
        _sds_source(str(tmp_path))


def test_bad_day_files_are_named_counted_and_the_other_days_predicted(models, tmp_path, capsys):
    root = str(tmp_path / "sds")
    _days(root, "STA01", range(4))
    folder = os.path.join(root, "2024", "XX", "STA01")
    day = lambda c, d: os.path.join(folder, f"HH{c}.D", f"XX.STA01..HH{c}.D.2024.{d:03d}")  # noqa: E731
    with open(day("Z", 1), "wb") as f:  # day 1: its Z file cut to nothing
        f.truncate(0)
    with open(day("E", 2), "r+b") as f:  # day 2: its E file holds text, not MiniSEED
        f.write(b"not miniseed" * 100)
    os.rename(day("N", 3), day("N", 5))  # day 3's N file under day 5's name: outside its day
    summary = _predict(models[:1], tmp_path / "out", _sds_source(root, end="2024-01-05"))
    said = capsys.readouterr().out
    for path in (day("Z", 1), day("E", 2), day("N", 5)):
        assert said.count(f"skipped {path}") == 1  # once, though the day before reads it too
    skipped = summary["skipped"]
    assert (skipped["undecodable_file"], skipped["file_outside_its_day"]) == (2, 1)
    # The days without a component: named, and their windows in a gap; day 4 is whole.
    missing = {k: v for k, v in skipped.items() if k.startswith("station_day_missing")}
    assert missing == {"station_day_missing_Z": 1, "station_day_missing_E": 1, "station_day_missing_N": 1}
    assert (
        summary["predictions"] == 55 + 55
    )  # day 4's first and last ten minutes; the archive ends at midnight


def test_a_day_at_another_rate_is_resampled_named_and_predicted(models, tmp_path, capsys):
    root = str(tmp_path / "sds")
    _days(root, "STA01", range(2))
    _days(root, "STA01", [2], rate=200.0)
    summary = _predict(models[:1], tmp_path / "out", _sds_source(root, end="2024-01-03"))
    # Day 2's last windows read into day 3's files, at 200 Hz: resampled, each named once.
    assert summary["predictions"] == 2 * 115
    assert set(summary["skipped"]) == {"window_in_a_gap"}  # resampled, not skipped
    assert capsys.readouterr().out.count(".D.2024.003: 200 Hz to 100 Hz") == 3


def test_progress_counts_station_days(models, recording, tmp_path, capsys):
    source = inputs.waveforms_source([recording], 10.0, False, chunk_seconds=HALF_HOUR)
    _predict(models[:1], tmp_path / "out", source, progress=True)
    said = capsys.readouterr().out
    assert "4/4" in said and "windows/s" in said


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_outputs(models, sds, tmp_path):
    command = [sys.executable, "-m", "techtonics.predict", f"--model={models[0]}", f"--sds_root={sds}"]
    command += ["--start=2024-01-01", "--end=2024-01-04", "--noprogress", "--batch_size=16"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([*command, f"--output_dir={tmp_path / 'whole'}"], check=True, env=env, cwd=REPO)
    rng = np.random.default_rng(0)
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        process = subprocess.Popen([*command, f"--output_dir={out}"], env=env, cwd=REPO)
        chunks = out / chunk_store.DIRECTORY
        deadline = time.time() + 120
        while time.time() < deadline and not (chunks.exists() and len(os.listdir(chunks)) >= 1 + attempt % 2):
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        subprocess.run([*command, f"--output_dir={out}"], check=True, env=env, cwd=REPO)
        assert (out / "predictions.csv").read_bytes() == (tmp_path / "whole" / "predictions.csv").read_bytes()
        assert (out / "detections.csv").read_bytes() == (tmp_path / "whole" / "detections.csv").read_bytes()
