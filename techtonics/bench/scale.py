"""The full-size run: the original subset from generation to evaluation, against the same at 20,000 traces.

    python -m techtonics.bench --parts=scale                       # 267,822 traces: about 45 GB of disk
    python -m techtonics.bench --parts=scale --scale_traces=50000  # a smaller rehearsal

At each size, in the original subset's class ratio (26.7% noise): generate a
synthetic STEAD (kept for the next run: a pair on disk is complete), convert
it with the original subset's splits (80/10/10 by source_id), verify it,
train 10 steps, one validation pass and the export (with the trainer's own
time from its call to its first step), read one epoch of the training input,
train each CNN 200 steps fed by the pipeline and from memory (the difference
is the share of step time spent waiting for input), and evaluate the whole
test split. Each stage runs as its own process and reports wall time,
traces/s, the peak RSS of its largest process and the bytes it wrote; the
full size is compared with 20,000 traces per trace (goal: at most 1.15x,
linear) and in peak RSS (goal: at most 1.2x). traces/s is over the wall
time, start-up included, except for the input pipeline and the 200 training
steps, which time their steady state inside the process (examples/s fed by
the pipeline).
"""

from __future__ import annotations

import os
import re
import sys

from techtonics.bench import conversion, measurements
from techtonics.bench.report import Row
from techtonics.conversion import plan
from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import records
from techtonics.synthetic import reference

BASELINE_TRACES = 20000
# Fast enough that the full-size rehearsal is not mostly waiting for its data.
GENERATOR_GOAL = 1000
# Bytes per trace on disk: the HDF5 file with its 35 attributes (76 kB measured) and the float32 record.
_DISK_PER_TRACE = 80_000 + plan.record_bytes("float32")
SUBSET_SPLITS = ("--seed=0", "--validation_fraction=0.1", "--test_fraction=0.1", "--split_by=source_id")
TRAIN_BATCH = 64
TRAIN_STEPS = 200  # of each CNN: the second 100 are timed


class ScaleError(UserError):
    """The full-size run cannot start; one line saying why."""


def check_disk(workdir: str, sizes: list[int]) -> None:
    """Refuses, before generating anything, sizes whose STEAD and records do not fit on the disk."""
    needed = sum(n * _DISK_PER_TRACE for n in sizes if not os.path.exists(_done_marker(workdir, n)))
    what = f"{' and '.join(f'{n:,}' for n in sizes)} traces"
    fileio.check_room(workdir, needed, what, "use --scale_traces=N for fewer, or another --output_dir")


def _done_marker(workdir: str, traces: int) -> str:
    return os.path.join(workdir, f"scale-{traces}", "records", records.MANIFEST_NAME)


def _stage(name: str, command: list[str], traces: int | None, written_dir: str | None = None) -> dict:
    """Runs one stage as its own process: wall time, traces/s, peak RSS and bytes written."""
    before = _bytes_under(written_dir)
    seconds, rss, _ = conversion.run_measured(command)
    written = _bytes_under(written_dir) - before
    rate = traces / seconds if traces else None
    return {
        "stage": name,
        "seconds": seconds,
        "traces": traces,
        "rate": rate,
        "rss_mb": rss,
        "bytes": written,
    }


def _measured(name: str, measurement: str, arguments: dict, traces: int, written_dir: str | None = None):
    """_stage of a measurement (measurements.py): (the stage, what the measurement returned)."""
    with measurements.result_file() as result:
        stage = _stage(name, measurements.command(measurement, arguments, result), traces, written_dir)
        return stage, measurements.read(result)


def _bytes_under(directory: str | None) -> int:
    if not directory or not os.path.isdir(directory):
        return 0
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory) for f in files)


def run_size(workdir: str, traces: int, processes: int) -> list[dict]:
    """Every stage at one size; returns one dict per stage."""
    root = os.path.join(workdir, f"scale-{traces}")
    stead_dir, records_dir = os.path.join(root, "stead"), os.path.join(root, "records")
    noise = round(traces * reference.ORIGINAL_NOISE_SHARE)
    stages = []
    if not os.path.exists(os.path.join(stead_dir, "chunk2.csv")):
        generate = [
            sys.executable,
            "-m",
            "techtonics.synthetic",
            f"--output_dir={stead_dir}",
            f"--earthquakes={traces - noise}",
            f"--noise={noise}",
            "--seed=0",
            "--resume",
            f"--processes={processes}",
        ]
        stages.append(_stage("generate", generate, traces, stead_dir))
    converted = conversion.end_to_end(stead_dir, records_dir, processes, *SUBSET_SPLITS)
    stages.append({"stage": "convert", **converted})
    manifest = records.read_manifest(records_dir)
    counts = {split: info["count"] for split, info in manifest["splits"].items()}
    verify = conversion.converter_command(f"--output_dir={records_dir}", "--verify")
    stages.append(_stage("verify", verify, traces))
    model_dir = os.path.join(root, "model")
    fileio.rmtree(model_dir)
    # The trainer as `python -m techtonics.train` runs it, with these flags.
    values = {"epochs": 1, "steps_per_epoch": 10, "batch_size": TRAIN_BATCH, "evaluate_split": "none"}
    train = {"records_dir": records_dir, "model_dir": model_dir, "values": values}
    trained, measured = _measured(
        "train 10 steps, validate, export", "trainer_run", train, counts["validation"], model_dir
    )
    first_step = {"stage": "trainer call to first step", "seconds": measured["first_step_seconds"]}
    stages.append({**first_step, "traces": None, "rate": None, "rss_mb": None, "bytes": None})
    stages.append(trained)
    epoch = {"records_dir": records_dir, "batch_size": TRAIN_BATCH}
    pipeline, measured = _measured("input pipeline, one epoch of train", "epoch_rate", epoch, counts["train"])
    stages.append({**pipeline, **measured, "rate": measured["examples_per_second"]})
    for task in ("classification", "regression"):
        arguments = {
            "records_dir": records_dir,
            "task": task,
            "batch_size": TRAIN_BATCH,
            "steps": TRAIN_STEPS // 2,
        }
        steps, measured = _measured(
            f"{task}: {TRAIN_STEPS} steps", "training_rates", arguments, TRAIN_STEPS * TRAIN_BATCH
        )
        stages.append({**steps, **measured, "rate": measured["fed_examples_per_second"]})
    evaluate = [sys.executable, "-m", "techtonics.evaluate", f"--model_dir={model_dir}", "--split=test"]
    stages.append(_stage("evaluate the test split", evaluate, counts["test"], model_dir))
    return stages


def compare(full: list[dict], baseline: list[dict]) -> list[dict]:
    """Per stage: the full size's cost per trace and peak RSS against the baseline's."""
    by_name = {stage["stage"]: stage for stage in baseline}
    rows = []
    for stage in full:
        base = by_name.get(stage["stage"])
        row = dict(stage)
        if base and stage["rate"] and base["rate"]:
            row["baseline_rate"], row["per_trace_ratio"] = base["rate"], base["rate"] / stage["rate"]
        if base and stage["rss_mb"] and base["rss_mb"]:
            row["baseline_rss_mb"], row["rss_ratio"] = base["rss_mb"], stage["rss_mb"] / base["rss_mb"]
        rows.append(row)
    return rows


def markdown(rows: list[dict], full: int, baseline: int) -> str:
    """The stages at full size as a Markdown table, each beside the baseline size."""
    lines = [
        f"| stage ({full:,} traces) | wall | traces/s | peak RSS | written | per trace vs {baseline:,} "
        f"(goal <= 1.15) | peak RSS vs {baseline:,} (goal <= 1.2) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        rate = f"{row['rate']:,.0f}" if row["rate"] else ""
        rss = f"{row['rss_mb']:,.0f} MB" if row["rss_mb"] else ""
        written = f"{row['bytes'] / 1e9:.2f} GB" if row["bytes"] else ""
        ratios = [f"{row[k]:.2f}" if k in row else "" for k in ("per_trace_ratio", "rss_ratio")]
        lines.append(
            f"| {row['stage']} | {row['seconds']:,.1f} s | {rate} | {rss} | {written} | "
            f"{' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def run(workdir: str, traces: int, processes: int) -> tuple[list[Row], list[dict]]:
    """The full-size run and the same at 20,000 traces: (rows with goals, every stage's figures).

    The command checks the disk (check_disk) before any part runs.
    """
    sizes = [BASELINE_TRACES, traces]
    baseline, full = (run_size(workdir, n, processes) for n in sizes)
    stages = compare(full, baseline)
    rows = []
    for stage in stages:
        key = "scale." + re.sub(r"\W+", "_", stage["stage"]).strip("_")
        if "per_trace_ratio" in stage:
            rows.append(
                Row(
                    f"{key}.rate",
                    f"{stage['stage']}, {traces:,} traces",
                    stage["rate"],
                    "traces/s",
                    f"per trace vs {sizes[0]:,}",
                    stage["per_trace_ratio"],
                    "<= 1.15",
                )
            )
        if "rss_ratio" in stage:
            rows.append(
                Row(
                    f"{key}.rss",
                    f"{stage['stage']}, peak RSS",
                    stage["rss_mb"],
                    "MB",
                    f"vs {sizes[0]:,} traces",
                    stage["rss_ratio"],
                    "<= 1.2",
                )
            )
        if stage["stage"] == "generate":
            rows.append(
                Row(
                    "scale.generate.goal",
                    f"synthetic STEAD, {processes} processes",
                    stage["rate"],
                    "traces/s",
                    f"{GENERATOR_GOAL:,} traces/s",
                    stage["rate"] / GENERATOR_GOAL,
                    ">= 1",
                )
            )
    return rows, stages
