"""STEAD -> sharded TFRecords: select, split, shard, write in parallel, resume.

The run, in order:
1. read every CSV (the columns records need; waveforms stay in HDF5) and
   check each CSV/HDF5 pair belongs together (plan.py);
2. select a per-class random subset and assign splits (techtonics.data.splits);
3. plan shards: each split's traces are shuffled and dealt into shards, and
   each shard keeps that seeded random order, so every stretch of a shard
   mixes classes, chunks, events and stations (STEAD's files hold all noise
   first; shards in file order made training see noise-only stretches);
4. worker processes (no TensorFlow: records.RecordWriter) read each shard's
   traces from HDF5 in file order into a buffer of one shard (read.py), write
   them in the shard's order under a temporary name, hashing as they write,
   rename the file when complete, then record count and sha256 in
   `_progress/<shard>.json` (write.py);
5. `manifest.json` is written last, atomically (manifest.py).
A re-run with the same arguments skips shards whose file still matches its
recorded sha256, so a killed run resumes and ends byte-identical to an
uninterrupted one. Nothing in a shard depends on timing or worker count.
verify.py re-reads the result against the manifest.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from techtonics.conversion import manifest, plan, read, write
from techtonics.core import fileio
from techtonics.data import records


def _check_free_space(config: plan.ConvertConfig, traces: int) -> None:
    """Refuses a local conversion that cannot fit, before writing anything."""
    if config.compression == "NONE":  # compressed records: their size is not known before
        needed = traces * plan.record_bytes(config.encoding)
        fileio.check_room(
            config.output_dir, needed, f"{traces} traces", "free space or choose another --output_dir"
        )


def convert(config: plan.ConvertConfig, progress: bool = True) -> dict:
    """Converts STEAD to TFRecords (resuming a killed run) and returns the manifest.

    One conversion at a time holds the output directory (fileio.directory_lock).
    """
    started = time.monotonic()
    planned = plan.build(config)
    fileio.check_writable(fileio.join(config.output_dir, write.PROGRESS_DIR), "the records")
    with fileio.directory_lock(config.output_dir, "a conversion"):
        return _write(config, planned, progress, started)


def _write(config: plan.ConvertConfig, planned: plan.Plan, progress: bool, started: float) -> dict:
    """Writes every shard not already complete, then the manifest."""
    shards = planned.shards
    write.remove_stale_temporaries(config.output_dir)
    finished, todo = {}, []
    for shard in shards:
        if (result := write.finished(shard, planned.meta, config)) is not None:
            finished[shard.file] = result
        else:
            todo.append(shard)
    if todo:  # the shards are about to change: no reader may trust the manifest that listed them
        fileio.remove(fileio.join(config.output_dir, records.MANIFEST_NAME))
    removed = write.remove_unplanned_shards(config.output_dir, shards)
    if progress and removed:
        print(
            f"removed {removed} shards of an earlier conversion that this one does not write", file=sys.stderr
        )
    total = sum(len(shard.rows) for shard in todo)
    _check_free_space(config, total)
    reporter = write.Progress(total, progress)
    if progress and finished:
        print(f"resuming: {len(finished)} of {len(shards)} shards already complete", file=sys.stderr)
    processes = max(1, min(config.processes or os.cpu_count() or 1, len(todo)))
    # Jobs are made as the queue takes them: one shard's metadata at a time, not a copy of all.
    jobs = (
        (plan.shard_job(shard, planned.meta, config), write.progress_path(config.output_dir, shard.file))
        for shard in todo
    )
    try:
        with read.writer_pool(processes) as (writers, counter):
            for result in writers.imap(
                write.write_and_record, jobs, ordered=False, waiting=lambda: reporter.show(counter.value)
            ):
                finished[result["file"]] = result
        reporter.show(total, final=True)
        written = manifest.build(config, planned, finished)
        fileio.write_atomic(
            fileio.join(config.output_dir, records.MANIFEST_NAME), records.manifest_json(written)
        )
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        left = sum(len(shard.rows) for shard in todo if shard.file not in finished)
        raise plan.ConversionError(
            f"{config.output_dir}: no space left on the device ({left} traces, about "
            f"{left * plan.record_bytes(config.encoding) / 2**30:.2f} GiB, still to write); "
            "free space and run the same command again to resume"
        ) from None
    if progress:
        print(manifest.summary(written, total, time.monotonic() - started), file=sys.stderr)
    return written
