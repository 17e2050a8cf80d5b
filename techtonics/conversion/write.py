"""Writing shards safely: temporary name then rename, a progress record per shard, and the progress line.

A shard's file appears under its name only when complete; its progress
record (`_progress/<shard>.json`: count, sha256, skips and the digest of
its planned content) follows. A re-run takes a shard as done only when
both exist and still agree (finished), so a killed run resumes and ends
byte-identical to an uninterrupted one. Nothing here imports TensorFlow:
records.RecordWriter frames the records itself.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time

import pandas as pd

from techtonics.conversion import plan, read
from techtonics.core import fileio
from techtonics.data import records

PROGRESS_DIR = "_progress"


def write_shard(job: plan.ShardJob) -> dict:
    """Writes one shard (temporary name, then rename) and returns its count, sha256 and skips.

    A shard whose every trace was skipped is not written (an empty object is a
    directory to tensorflow-io's S3, and never lands); the manifest leaves it out.
    """
    waveforms, skipped = read.read_waveforms(job)
    bad = {name for name, _ in skipped}
    tmp = fileio.temporary_path(job.path)
    worst_error, written = 0.0, 0
    try:
        with records.RecordWriter(tmp, job.compression) as writer:
            for i, meta in enumerate(job.traces.to_dict("records")):
                if meta["trace_name"] in bad:
                    continue
                example, error = records.example_parts(waveforms[i], meta, job.encoding)
                writer.write(example)
                written += 1
                worst_error = max(worst_error, error)
        if written:
            fileio.rename(tmp, job.path)
        else:
            fileio.remove(job.path)  # an earlier run's, of traces that are all bad now
    finally:
        fileio.remove(tmp)
    return {
        "file": job.path.rsplit("/", 1)[-1],
        "count": written,
        "sha256": writer.sha256,
        "skipped": skipped,
        "worst_relative_error": worst_error,
    }


def write_and_record(job_and_progress: tuple[plan.ShardJob, str]) -> dict:
    """A writer's work item (job, progress path): writes the shard, then its progress record and digest."""
    job, progress_path = job_and_progress
    result = {**write_shard(job), "digest": plan.shard_digest(job)}
    fileio.write_atomic(progress_path, json.dumps(result, sort_keys=True))
    return result


def progress_path(output_dir: str, file: str) -> str:
    """Where the progress record of shard `file` goes."""
    return fileio.join(output_dir, PROGRESS_DIR, file + ".json")


def finished(shard: plan.Shard, meta: pd.DataFrame, config: plan.ConvertConfig) -> dict | None:
    """The shard's progress record if its file is complete and unchanged, else None."""
    progress = progress_path(config.output_dir, shard.file)
    path = fileio.join(config.output_dir, shard.file)
    if not fileio.exists(progress):
        return None
    with fileio.open_file(progress, "rb") as f:
        result = json.loads(f.read())
    if result.get("digest") != plan.shard_digest(plan.shard_job(shard, meta, config)):
        return None
    if result["count"] == 0:  # every trace skipped: no file by design
        return result
    return result if fileio.exists(path) and fileio.sha256(path) == result.get("sha256") else None


def remove_stale_temporaries(output_dir: str) -> None:
    """Removes the half-written shards and progress records that killed runs left under temporary names."""
    fileio.remove_temporaries(output_dir)
    fileio.remove_temporaries(fileio.join(output_dir, PROGRESS_DIR))


# What shards are called (records.shard_name), finished or temporary: what a conversion may remove.
_SHARD_FILE = re.compile(r"(train|validation|test)-\d{5}-of-\d{5}\.tfrecord(\.gz)?(\.tmp-.*)?")


def remove_unplanned_shards(output_dir: str, shards: list[plan.Shard]) -> int:
    """Removes shards (and their progress records) of earlier conversions that this one did not plan.

    Another --min_shards or --shard_mb names other files; they would sit beside
    the dataset that no longer lists them. Returns how many were removed.
    """
    planned = {s.file for s in shards}
    stale = [n for n in fileio.listdir(output_dir) if _SHARD_FILE.fullmatch(n) and n not in planned]
    for name in stale:
        fileio.remove(fileio.join(output_dir, name))
        fileio.remove(progress_path(output_dir, name))
    return len(stale)


class Progress:
    """A one-line progress report with traces/s and ETA, to stderr."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.start, self.shown = total, enabled, time.monotonic(), 0.0
        self.interactive = sys.stderr.isatty()

    def show(self, done: int, final: bool = False) -> None:
        """Reports `done` traces; at most twice a second on a terminal and every 10 s in a log."""
        now = time.monotonic()
        if not self.enabled or (not final and now - self.shown < (0.5 if self.interactive else 10.0)):
            return
        self.shown = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if math.isfinite(eta) else "?"
        line = f"converted {done}/{self.total} traces ({rate:,.0f} traces/s, ETA {eta_text})"
        end = "\n" if final or not self.interactive else ""
        print(("\r" if self.interactive else "") + line, end=end, file=sys.stderr, flush=True)
