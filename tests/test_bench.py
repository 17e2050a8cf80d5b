"""The benchmark: goals are judged against the measured ratios, and --quick reports every figure."""

import json
import math
import subprocess
import sys

import pytest
from conftest import REPO

from techtonics.bench import measurements, pipeline, report, scale, training
from techtonics.core import fileio
from techtonics.data import stead
from techtonics.training import augmentation

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {
    "conversion.h5py_read",
    "conversion.rate",
    "conversion.seisbench_format",
    "conversion.h5py_read_1",
    "conversion.rate_1",
    "conversion.scaling",
    "conversion.end_to_end",
    "conversion.rss",
    "conversion.rss_small",
    "conversion.rss_big",
    "mixing.std_ratio",
    "mixing.window_range",
    "mixing.batch_min",
    "pipeline.regression",
    "pipeline.raw",
    "pipeline.rate",
    "pipeline.augmented",
    "pipeline.int16",
    "pipeline.generator",
    "pipeline.vs_generator",
    "png.render",
    "png.preparation",
    "png.read",
    "png.per_epoch",
    *(
        f"training.{task}{xla}.{feed}"
        for task in ("classification", "regression", "picking")
        for xla in ("", ".xla")
        for feed in ("memory", "fed")
    ),
    *(
        f"training.{task}.{feed}"
        for task in ("classification", "regression", "picking")
        for feed in ("augmented", "augmented_memory")
    ),
    *(
        f"prediction.{kind}.{what}"
        for kind in ("stead", "continuous")
        for what in ("loop", "memory", "pipeline", "fed")
    ),
    "prediction.pick_benchmark",
    *(f"archive.{what}" for what in ("station_days", "fed", "chunked", "memory", "longest")),
}
if fileio.extra_file_systems():  # the s3 extra's set
    FIGURES |= {"storage.local", "storage.s3"}


def test_markdown_marks_met_and_missed_goals():
    table = report.markdown(
        [
            report.Row("c", "conversion", 900.0, "traces/s", "h5py read", 0.5, ">= 0.8"),
            report.Row("r", "peak RSS", 550.0, "MB", "2,000 traces", 1.05, "<= 1.1"),
            report.Row("h", "h5py read", 1800.0, "traces/s"),
        ]
    )
    lines = table.splitlines()
    assert lines[0].startswith("| measurement |") and len(lines) == 5
    assert "| 0.50 | >= 0.8 (missed) |" in lines[2]
    assert "| 1.05 | <= 1.1 (met) |" in lines[3]
    assert lines[4].endswith("|  |  |  |") and "1,800.0 traces/s" in lines[4]


def test_pipeline_and_training_measurements_run_on_tiny_records(tiny_stead, tiny_records):
    pairs = stead.find_pairs(str(tiny_stead))
    rates = pipeline.pipeline_rates(pairs, str(tiny_records), batch_size=8)
    assert set(rates) == {"raw", "pipeline", "generator"} and all(r > 0 for r in rates.values())
    rates = training.training_rates(str(tiny_records), "classification", False, 8, steps=2, augmented=True)
    assert set(rates) == {"fed", "memory", "augmented", "augmented_memory"}
    assert all(r > 0 for r in rates.values())
    assert pipeline.pipeline_rate(str(tiny_records), 8, augment=augmentation.RECOMMENDED) > 0


def test_a_measurement_writes_its_result_file_and_runs_in_a_process_of_its_own(
    tiny_records, tmp_path, monkeypatch
):
    monkeypatch.setitem(measurements.MEASUREMENTS, "double", lambda x: {"doubled": 2 * x})
    result = tmp_path / "result.json"
    assert measurements.measure("double", '{"x": 21}', str(result)) == {"doubled": 42}
    assert json.loads(result.read_text()) == {"doubled": 42} and list(tmp_path.iterdir()) == [result]
    measured = measurements.run("pipeline_rate", {"records_dir": str(tiny_records), "batch_size": 8})
    assert measured["examples_per_second"] > 0
    with pytest.raises(RuntimeError, match="--measurement=pipeline_rate .* failed:"):
        measurements.run("pipeline_rate", {"records_dir": str(tmp_path / "missing"), "batch_size": 8})


@pytest.mark.slow
def test_the_trainer_measurement_returns_the_trainers_first_step_time(tiny_records, tmp_path):
    values = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "evaluate_split": "none"}
    measured = measurements.trainer_run(str(tiny_records), str(tmp_path / "model"), values)
    assert measured["first_step_seconds"] > 0 and (tmp_path / "model" / "export").is_dir()


@pytest.mark.slow
def test_quick_run_reports_every_figure_in_json_markdown_and_chart(tmp_path):
    command = [sys.executable, "-m", "techtonics.bench", "--quick", f"--output_dir={tmp_path}"]
    subprocess.run(command, check=True, capture_output=True, cwd=REPO, timeout=1800)
    results = json.loads((tmp_path / "bench.json").read_text())
    rows = {row["key"]: row for row in results["rows"]}
    assert set(rows) == FIGURES
    assert all(math.isfinite(row["value"]) and row["value"] > 0 for row in rows.values())
    assert all(row["met"] in (True, False) for row in rows.values() if row["goal"])
    assert results["machine"]["cores"] >= 1 and "tensorflow" in results["machine"]
    assert {"TFRecord", "ParallelMapV2", "Shuffle", "FlatMap"} <= {
        stage["stage"] for stage in results["profile"]
    }
    table = (tmp_path / "bench.md").read_text()
    assert all(row["name"] in table for row in rows.values())
    assert (tmp_path / "bench.png").read_bytes().startswith(PNG)


def test_scale_refuses_what_the_disk_cannot_hold_before_generating(tmp_path):
    command = [sys.executable, "-m", "techtonics.bench", "--parts=scale", "--scale_traces=100000000"]
    done = subprocess.run(
        [*command, f"--output_dir={tmp_path}"], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-1]
    assert (
        error.startswith(f"error: {tmp_path}: 20,000 and 100,000,000 traces need about ")
        and "GB are free" in error
    )
    assert list(tmp_path.iterdir()) == []


def test_scale_compares_each_stage_per_trace_and_in_memory_with_the_baseline_size():
    def stage(name, traces, seconds, rss):
        rate = traces / seconds if traces else None
        return {"stage": name, "seconds": seconds, "traces": traces, "rate": rate, "rss_mb": rss, "bytes": 0}

    baseline = [
        stage("convert", 20000, 10.0, 300.0),
        stage("trainer, fit start to first step", None, 5.0, None),
    ]
    full = [
        stage("convert", 200000, 150.0, 330.0),
        stage("trainer, fit start to first step", None, 6.0, None),
    ]
    convert, first_step = scale.compare(full, baseline)
    assert convert["per_trace_ratio"] == pytest.approx(1.5) and convert["rss_ratio"] == pytest.approx(1.1)
    assert convert["baseline_rate"] == 2000.0 and "per_trace_ratio" not in first_step
    table = scale.markdown([convert, first_step], 200000, 20000).splitlines()
    assert table[2].startswith("| convert | 150.0 s | 1,333 | 330 MB |") and table[2].endswith(
        "| 1.50 | 1.10 |"
    )


def test_an_interpreter_without_seisbench_is_refused_before_measuring(tmp_path):
    command = [
        sys.executable,
        "-m",
        "techtonics.bench",
        f"--seisbench_python={sys.executable}",
        f"--output_dir={tmp_path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 1 and list(tmp_path.iterdir()) == []
    assert (
        f"flag --seisbench_python={sys.executable}: needs an interpreter that can import seisbench"
        in done.stderr
    )
