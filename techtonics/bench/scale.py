"""The full-size run: the original subset from generation to evaluation, against the same at 20,000 traces.

    python -m techtonics.bench --parts=scale                       # 267,822 traces: about 45 GB of disk
    python -m techtonics.bench --parts=scale --scale_traces=50000  # a smaller rehearsal

At each size, in the original subset's class ratio (26.7% noise): generate a
synthetic STEAD (kept for the next run: a pair on disk is complete), convert
it with the original subset's splits (80/10/10 by source_id), verify it,
start the trainer and time it to its first step (then it finishes 10 steps,
one validation pass and the export), read one epoch of the training input,
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

import json
import os
import re
import shutil
import sys
import time

from techtonics import converter, fileio, records, trainer
from techtonics.bench import conversion, datasets
from techtonics.bench.report import Row
from techtonics.errors import UserError

BASELINE_TRACES = 20000
# Fast enough that the full-size rehearsal is not mostly waiting for its data.
GENERATOR_GOAL = 1000
# Bytes per trace on disk: the HDF5 file with its 35 attributes (76 kB measured) and the float32 record.
_DISK_PER_TRACE = 80_000 + converter.record_bytes("float32")
SUBSET_SPLITS = ("--seed=0", "--validation_fraction=0.1", "--test_fraction=0.1", "--split_by=source_id")
TRAIN_BATCH = 64
TRAIN_STEPS = 200  # of each CNN: the second 100 are timed
_RESULT = "result"


class ScaleError(UserError):
    """The full-size run cannot start; one line saying why."""


def check_disk(workdir: str, sizes: list[int]) -> None:
    """Refuses, before generating anything, sizes whose STEAD and records do not fit on the disk."""
    os.makedirs(workdir, exist_ok=True)
    needed = sum(n * _DISK_PER_TRACE for n in sizes if not os.path.exists(_done_marker(workdir, n)))
    free = shutil.disk_usage(workdir).free
    if needed > free:
        raise ScaleError(
            f"{workdir}: {' and '.join(f'{n:,}' for n in sizes)} traces need about {needed / 1e9:.0f} GB "
            f"of disk, {free / 1e9:.0f} GB free; use --scale_traces=N for fewer, or another --workdir"
        )


def _done_marker(workdir: str, traces: int) -> str:
    return os.path.join(workdir, f"scale-{traces}", "records", records.MANIFEST_NAME)


def _python(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def _stage(name: str, command: list[str], traces: int, written_dir: str | None = None) -> dict:
    """Runs one stage as its own process; wall time, traces/s, peak RSS, bytes written and its output."""
    before = _bytes_under(written_dir)
    seconds, rss, output = conversion.run_measured(command)
    written = _bytes_under(written_dir) - before
    result = {"stage": name, "seconds": seconds, "traces": traces, "rate": traces / seconds, "rss_mb": rss}
    return {**result, "bytes": written, "output": output}


def _bytes_under(directory: str | None) -> int:
    if not directory or not os.path.isdir(directory):
        return 0
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(directory) for f in files)


def _first_step_seconds(output: str) -> float:
    """When the trainer's first step ended, from the time-stamped output lines of run_measured."""
    for line in output.splitlines():
        stamp, _, text = line.partition(" ")
        if text.startswith(trainer.FIRST_STEP_LINE):
            return float(stamp)
    raise RuntimeError(f"the trainer never finished a step:\n{output[-2000:]}")


def _result(output: str) -> dict:
    """The JSON that a stage of this module's own command line printed last."""
    return json.loads(output.rsplit(f" {_RESULT} ", 1)[1])


def run_size(workdir: str, traces: int, workers: int) -> list[dict]:
    """Every stage at one size; returns one dict per stage."""
    root = os.path.join(workdir, f"scale-{traces}")
    stead_dir, records_dir = os.path.join(root, "stead"), os.path.join(root, "records")
    noise = round(traces * datasets.NOISE_SHARE)
    stages = []
    if not os.path.exists(os.path.join(stead_dir, "chunk2.csv")):
        generate = _python(
            "-m",
            "techtonics.synthetic",
            f"--output_dir={stead_dir}",
            f"--earthquakes={traces - noise}",
            f"--noise={noise}",
            "--seed=0",
            "--resume",
            f"--num_workers={workers}",
        )
        stages.append(_stage("generate", generate, traces, stead_dir))
    converted = conversion.end_to_end(stead_dir, records_dir, workers, *SUBSET_SPLITS)
    stages.append({"stage": "convert", **converted, "output": ""})
    manifest = records.read_manifest(records_dir)
    counts = {split: info["count"] for split, info in manifest["splits"].items()}
    stages.append(
        _stage("verify", conversion.converter_command(f"--output_dir={records_dir}", "--verify"), traces)
    )
    model_dir = os.path.join(root, "model")
    fileio.rmtree(model_dir)
    train = _python(
        "-m",
        "techtonics.train",
        f"--records={records_dir}",
        f"--model_dir={model_dir}",
        "--epochs=1",
        "--steps_per_epoch=10",
        f"--batch_size={TRAIN_BATCH}",
        "--evaluate_split=none",
    )
    trained = _stage("train 10 steps, validate, export", train, counts["validation"], model_dir)
    stages.append(
        {
            "stage": "trainer start to first step",
            "seconds": _first_step_seconds(trained["output"]),
            "traces": None,
            "rate": None,
            "rss_mb": None,
            "bytes": None,
            "output": "",
        }
    )
    stages.append(trained)
    pipeline = _stage(
        "input pipeline, one epoch of train",
        _python("-m", "techtonics.bench.scale", "pipeline", records_dir),
        counts["train"],
    )
    measured = _result(pipeline["output"])
    stages.append({**pipeline, **measured, "rate": measured["examples_per_second"]})
    for task in ("classification", "regression"):
        steps = _stage(
            f"{task}: {TRAIN_STEPS} steps",
            _python("-m", "techtonics.bench.scale", task, records_dir),
            TRAIN_STEPS * TRAIN_BATCH,
        )
        measured = _result(steps["output"])
        stages.append({**steps, **measured, "rate": measured["fed_examples_per_second"]})
    evaluate = _python("-m", "techtonics.evaluate", f"--model_dir={model_dir}", "--split=test")
    stages.append(_stage("evaluate the test split", evaluate, counts["test"], model_dir))
    return stages


def compare(full: list[dict], baseline: list[dict]) -> list[dict]:
    """Per stage: the full size's cost per trace and peak RSS against the baseline's."""
    by_name = {stage["stage"]: stage for stage in baseline}
    rows = []
    for stage in full:
        base = by_name.get(stage["stage"])
        row = {k: v for k, v in stage.items() if k != "output"}
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


def _measure_pipeline(records_dir: str) -> dict:
    from techtonics import data  # TensorFlow only in this stage's process

    source = data.Records(records_dir)
    config = data.InputConfig(batch_size=TRAIN_BATCH)
    ds, steps = data.split_dataset(source, "train", config, training=True)
    start, iterator = time.perf_counter(), iter(ds)
    for _ in range(steps):
        next(iterator)
    return {"examples_per_second": steps * TRAIN_BATCH / (time.perf_counter() - start), "batches": steps}


def _measure_training(records_dir: str, task: str) -> dict:
    from techtonics.bench import training  # TensorFlow only in this stage's process

    fed, memory = training.training_rates(records_dir, task, False, TRAIN_BATCH, TRAIN_STEPS // 2)
    return {
        "fed_examples_per_second": fed,
        "memory_examples_per_second": memory,
        "input_wait_share": 1 - fed / memory,
    }


def run(workdir: str, traces: int, workers: int) -> tuple[list[Row], list[dict]]:
    """The full-size run and the same at 20,000 traces: (rows with goals, every stage's figures).

    The command checks the disk (check_disk) before any part runs.
    """
    sizes = [BASELINE_TRACES, traces]
    baseline, full = (run_size(workdir, n, workers) for n in sizes)
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
                    f"synthetic STEAD, {workers} processes",
                    stage["rate"],
                    "traces/s",
                    f"{GENERATOR_GOAL:,} traces/s",
                    stage["rate"] / GENERATOR_GOAL,
                    ">= 1",
                )
            )
    return rows, stages


def main(argv: list[str]) -> None:
    """A stage in its own process: `pipeline|classification|regression RECORDS`; prints JSON last."""
    what, records_dir = argv
    result = _measure_pipeline(records_dir) if what == "pipeline" else _measure_training(records_dir, what)
    print(_RESULT, json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
