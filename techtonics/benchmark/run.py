"""One pick-benchmark run: targets (read, or made from the dataset), every model's answers to them in the
field's files, its metrics and figures, and one table.

OUTPUT_DIR/
    targets/task1.csv, task23.csv      made here when --targets is not given
    <model>/{dev,test}_task1.csv       the targets' rows and the field's four prediction columns,
    <model>/{dev,test}_task23.csv      for the tasks the model answers (collect_results.py reads them)
    <model>/benchmark.json             the metrics, named as collect_results.py names them
    <model>/roc.png, onset_residuals.png
    benchmark.md                       every model and metric in one table
    summary.json                       written last: what was scored and what was skipped

Every file is written atomically, and a rerun writes them all again, so a
run killed at any moment is resumed by the same command; a second run on
the same directory is refused while the first holds it.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import time

import pandas as pd

from techtonics.benchmark import data, metrics, report, scoring, targets
from techtonics.cluster import distribute
from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import seisbench, stead
from techtonics.model import export
from techtonics.prediction import predictor as prediction
from techtonics.training import tasks

MAX_BATCH = 65536


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """Which models, on which dataset and targets, into which directory."""

    models: tuple[str, ...]
    output_dir: str
    stead_files: stead.SteadFiles = options.nested(stead.SteadFiles)
    seisbench_files: seisbench.SeisBenchFiles = options.nested(seisbench.SeisBenchFiles)
    targets: str | None = option(
        None, "A directory holding the field's task1.csv and task23.csv; default: made from the dataset."
    )
    records: str | None = option(
        None,
        "STEAD input: the converted dataset the models were trained on; its validation and test splits "
        "are the benchmark's dev and test.",
    )
    noise_before_events: bool = option(
        True, "Made targets: also cut noise windows from before a late first arrival (the field's default)."
    )
    batch_size: int = option(256, "Windows per batch, split over all replicas.", minimum=1)
    strategy: str = option(
        "auto",
        "tf.distribute strategy (auto: every GPU of this machine).",
        choices=distribute.MACHINE_STRATEGIES,
    )

    def __post_init__(self):
        options.check(self)
        if self.batch_size > MAX_BATCH:  # a batch is held in memory: 72 KB a window, and the models' work
            raise UserError(f"--batch_size={self.batch_size}: at most {MAX_BATCH:,}")
        if self.targets is not None and not self.targets.strip():
            raise UserError("--targets=: an empty path; give the directory of task1.csv and task23.csv")
        if self.records and self.seisbench_files.given:
            raise UserError("--records: for STEAD input; a SeisBench dataset's split column names its splits")

    def dataset(self) -> data.Dataset:
        """The dataset named; exactly one must be."""
        if self.stead_files.given == self.seisbench_files.given:
            raise UserError("give one dataset: --seisbench_dir, or --stead_dir (or --csv and --hdf5)")
        if self.seisbench_files.given:
            return data.from_seisbench(self.seisbench_files.chunks())
        return data.from_stead(self.stead_files.pairs(), self.records, splits_needed=not self.targets)


def _split_rows(
    targets_of: dict[str, pd.DataFrame], dataset: data.Dataset, where: str, skipped: collections.Counter
) -> dict[tuple[str, str], pd.DataFrame]:
    """{(task file, split): the rows the dataset answers} for each task file that has dev and test rows."""
    rows = {}
    for task_file, all_rows in targets_of.items():
        path = fileio.join(where, f"{task_file}.csv")
        kept = targets.check(all_rows, dataset.traces, path, skipped)
        of_split = {split: kept[kept.trace_split == split] for split in targets.SPLITS}
        empty = [split for split, r in of_split.items() if r.empty]
        if empty:
            print(
                f"warning: {path}: no {' or '.join(empty)} rows the dataset holds; task skipped",
                file=sys.stderr,
            )
            skipped[f"{task_file}_without_{'_'.join(empty)}"] += 1
            continue
        rows.update({(task_file, split): r for split, r in of_split.items()})
    if not rows:
        raise UserError(f"{where}: no targets to score on the dataset's dev and test splits")
    return rows


def _models(paths: tuple[str, ...], skipped: collections.Counter) -> dict[str, tuple[str, tasks.Task]]:
    """{output name: (export path, task)} of the models that answer a task; the others named in a line
    and counted in skipped."""
    if not paths:
        raise UserError("no model: give --model=EXPORT_DIR (a model directory's export/)")
    found = {}
    for path, name in zip(paths, prediction.model_names(list(paths))):
        task = tasks.from_info(export.checked_info(path))
        if scoring.scored_tasks(task):
            found[name] = (path, task)
        else:
            print(
                f"warning: {path}: a {task.describe()} answers none of the benchmark's tasks; skipped",
                file=sys.stderr,
            )
            skipped["model_answering_no_task"] += 1
    if not found:
        raise UserError("none of the models answers a benchmark task (detection, P or S onsets)")
    return found


def _write(answer: pd.DataFrame, task_file: str, split: str, output_dir: str, name: str) -> pd.DataFrame:
    """OUTPUT_DIR/<name>/<split>_<task_file>.csv, atomically, in the field's columns; returns it."""
    model_dir = fileio.join(output_dir, name)
    fileio.makedirs(model_dir)
    answer = answer[targets.COLUMNS[task_file] + scoring.PREDICTION_COLUMNS]
    with fileio.atomic_output(fileio.join(model_dir, f"{split}_{task_file}.csv"), "w") as f:
        answer.to_csv(f, index=False)
    return answer


def run(config: BenchmarkConfig) -> dict:
    """Scores every model on the targets; returns the summary (also OUTPUT_DIR/summary.json)."""
    fileio.check_writable(config.output_dir, "the benchmark")
    with fileio.directory_lock(config.output_dir, "a pick-benchmark"):
        folders = [fileio.join(config.output_dir, n.rstrip("/")) for n in fileio.listdir(config.output_dir)]
        for folder in [config.output_dir, *filter(fileio.isdir, folders)]:
            fileio.remove_temporaries(folder)  # what a killed run was writing, in any of its folders
        fileio.remove(fileio.join(config.output_dir, "summary.json"))
        return _run(config)


def _run(config: BenchmarkConfig) -> dict:
    skipped = collections.Counter()
    models = _models(config.models, skipped)
    dataset = config.dataset()
    skipped.update(dataset.skipped)
    if config.targets:
        where, targets_of = config.targets, targets.read(config.targets)
    else:
        where = fileio.join(config.output_dir, "targets")
        targets_of = targets.generate(dataset.traces, config.noise_before_events)
        targets.write(targets_of, where)
    rows = _split_rows(targets_of, dataset, where, skipped)
    strategy = distribute.machine_strategy(config.strategy)
    written = collections.defaultdict(dict)
    started = time.perf_counter()
    read_skips = collections.defaultdict(collections.Counter)  # each window's once, however many read it
    for task_file in sorted({task_file for task_file, _ in rows}):
        groups = collections.defaultdict(list)  # the models that read this file alike, together
        for name, (_, task) in models.items():
            if task_file in scoring.scored_tasks(task):
                groups[scoring.reading(task, task_file)].append(name)
        for (masked, _), names in sorted(groups.items()):
            scorer = prediction.Predictor(
                [models[n][0] for n in names], strategy, config.batch_size, per_sample=True
            )
            for split in targets.SPLITS:
                began, unread = time.perf_counter(), collections.Counter()
                split_rows = rows[(task_file, split)]
                answers = scoring.score(scorer, dataset, split_rows, masked, config.batch_size, unread)
                read_skips[(task_file, split)] |= unread
                for name, answer in zip(names, answers):
                    written[name][f"{split}_{task_file}"] = _write(
                        answer, task_file, split, config.output_dir, name
                    )
                seconds = time.perf_counter() - began
                print(
                    f"{task_file} {split}: {len(answers[0]):,} windows, {', '.join(names)}, {seconds:.1f} s "
                    f"({len(answers[0]) / seconds:,.0f} windows/s)"
                )
    for unread in read_skips.values():
        skipped.update(unread)
    if not written:
        raise UserError(f"{where}: holds none of the tasks the models answer")
    for name in models.keys() - written.keys():
        print(
            f"warning: {models[name][0]}: the targets hold none of the tasks it answers; skipped",
            file=sys.stderr,
        )
        skipped["model_without_targets_it_answers"] += 1
    stats_of = {}
    for name, frames in ((n, written[n]) for n in models if n in written):  # in the order given
        model_dir = fileio.join(config.output_dir, name)
        stats = {}
        for task_file, truth, positive, compute in (
            ("task1", "trace_type", "earthquake", metrics.detection),
            ("task23", "phase_label", "P", metrics.phase_and_onset),
        ):
            if f"dev_{task_file}" not in frames:
                continue
            dev, test = frames[f"dev_{task_file}"], frames[f"test_{task_file}"]
            reason = metrics.unscoreable(dev, test, truth, positive)
            if reason:
                print(
                    f"warning: {model_dir}: {task_file} not scored: {reason.replace('_', ' ')}",
                    file=sys.stderr,
                )
                skipped[f"{task_file}_{reason}"] += 1
                continue
            stats.update(compute(dev, test))
        report.write_metrics(stats, model_dir)
        report.draw(frames, stats, model_dir)
        stats_of[name] = stats
    table = report.table(stats_of)
    fileio.write_atomic(fileio.join(config.output_dir, "benchmark.md"), table)
    summary = {
        "models": {name: models[name][0] for name in stats_of},
        "dataset": dataset.path,
        "targets": where,
        "windows": {key: len(frame) for frames in written.values() for key, frame in frames.items()},
        "seconds": time.perf_counter() - started,
        "skipped": dict(skipped),
        "benchmark_md": fileio.join(config.output_dir, "benchmark.md"),
    }
    fileio.write_atomic(fileio.join(config.output_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    print(table, end="")
    print(f"skipped: {prediction.reasons(skipped)}")
    return summary
