"""Conversion benchmarks: the converter against h5py's read rate, 1 vs all writers, end to end, SeisBench
(its conversion of STEAD, and ours from its format).

Imports no TensorFlow: `h5py_read` runs in the converter's own writer
processes, which never load it (techtonics.conversion), so the read bound and
the conversion are timed on the same warm processes over the same planned shards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np

from techtonics.bench import datasets
from techtonics.bench.report import Row
from techtonics.conversion import plan, read, write
from techtonics.core import fileio
from techtonics.data import records, seisbench, splits, stead

# A script of the repository, not the package: it runs under SeisBench's own interpreter.
_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "seisbench_peer.py")
_files: dict[str, h5py.File] = {}


def h5py_read(job: plan.ShardJob) -> int:
    """The read bound: a shard's traces read as users and SeisBench do, `group[name][()]`, in file order."""
    traces = job.traces.iloc[np.argsort(job.traces.row.to_numpy(), kind="stable")]
    for pair, name in zip(traces.pair, traces.trace_name):
        path = job.hdf5[pair]
        if path not in _files:
            _files[path] = h5py.File(path, "r")
        _files[path][stead.HDF5_GROUP][name][()]
    return len(traces)


def timed_passes(config: plan.ConvertConfig, functions: list) -> tuple[int, list[float]]:
    """Each function(ShardJob) over every planned shard on one pool of started writers.

    A first, untimed pass of functions[0] starts the processes and warms the
    page cache, so the timed passes compare the work per trace, not start-up.
    Before each timed pass the output directory is emptied and synced (ext4
    flushes files renamed over old ones). Returns (traces, seconds per pass).
    """
    planned = plan.build(config)
    jobs = [plan.shard_job(shard, planned.meta, config) for shard in planned.shards]
    traces = sum(len(job.traces) for job in jobs)
    seconds = []
    with read.writer_pool(config.processes or os.cpu_count() or 1) as (writers, _):
        list(writers.imap(functions[0], jobs, ordered=False))
        for function in functions:
            fileio.rmtree(config.output_dir)
            fileio.makedirs(config.output_dir)
            os.sync()
            start = time.perf_counter()
            list(writers.imap(function, jobs, ordered=False))
            seconds.append(time.perf_counter() - start)
    return traces, seconds


def seisbench_format_rate(seisbench_dir: str, output_dir: str, processes: int) -> float:
    """Conversion traces/s from a SeisBench-format dataset, timed as steady_rates times STEAD's; planned by
    fractions, as STEAD is, so both write the same shards."""
    chunks = tuple(seisbench.find_chunks(seisbench_dir))
    split = splits.SplitConfig(dataset_splits=False)
    config = plan.ConvertConfig(pairs=chunks, output_dir=output_dir, processes=processes, split=split)
    traces, seconds = timed_passes(config, [write.write_shard])
    return traces / seconds[0]


def steady_rates(pairs: list[stead.SteadPair], output_dir: str, processes: int) -> tuple[float, float]:
    """(h5py read, conversion) traces/s over the same planned shards on one warm pool of writer processes."""
    config = plan.ConvertConfig(pairs=tuple(pairs), output_dir=output_dir, processes=processes)
    traces, seconds = timed_passes(config, [h5py_read, write.write_shard])
    return traces / seconds[0], traces / seconds[1]


# Runs a command from a fresh interpreter (RUSAGE_CHILDREN is then its largest process), passing its
# output through; prints the wall time and that peak RSS last.
_PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
for line in child.stdout:
    print(line, end="", flush=True)
child.wait()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(child.returncode)
"""


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, largest resident set of its processes in MB, its output)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *command], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    *output, last = done.stdout.rstrip("\n").split("\n")
    seconds, rss_kb = last.split()
    return float(seconds), int(rss_kb) / 1024.0, "\n".join(output)


def converter_command(*arguments: str) -> list[str]:
    """The converter's command line, as users run it."""
    return [sys.executable, "-m", "techtonics.convert", *arguments]


def end_to_end(stead_dir: str, output_dir: str, processes: int, *arguments: str) -> dict:
    """The converter's command line from start to manifest: wall time, traces/s, peak RSS, bytes written."""
    fileio.rmtree(output_dir)
    command = converter_command(
        f"--stead_dir={stead_dir}",
        f"--output_dir={output_dir}",
        f"--processes={processes}",
        "--noprogress",
        *arguments,
    )
    seconds, rss, _ = run_measured(command)
    manifest = records.read_manifest(output_dir)
    traces = sum(split["count"] for split in manifest["splits"].values())
    written = sum(
        os.path.getsize(os.path.join(output_dir, name))
        for name in os.listdir(output_dir)
        if name != write.PROGRESS_DIR
    )
    return {"seconds": seconds, "traces": traces, "rate": traces / seconds, "rss_mb": rss, "bytes": written}


def has_seisbench(python: str) -> bool:
    """Whether `python` finds the seisbench package (without importing it and PyTorch), and the peer script
    is here (a checkout of the repository: tools/ is not installed)."""
    if not os.path.exists(_PEER):
        return False
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('seisbench') is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def seisbench_rate(python: str, stead_dir: str, cache: str) -> float:
    """Traces/s of SeisBench's STEAD conversion of a merged pair, tools/seisbench_peer.py under `python`."""
    seconds, _, output = run_measured([python, _PEER, f"--stead_dir={stead_dir}", f"--cache={cache}"])
    match = re.search(r": (\d+) traces in ", output)
    if not match:
        raise RuntimeError(f"SeisBench's conversion printed no result:\n{output[-2000:]}")
    return int(match.group(1)) / seconds


# A writer holds one shard of waveforms, so its memory follows --shard_mb, not the number of traces;
# the memory figure compares two sizes at one small shard size that both fill.
_MEMORY_SHARD_MB = 3


def run(workdir: str, traces: int, small: int, processes: int, seisbench_python: str) -> list[Row]:
    """Conversion figures on generated STEAD of `traces` (and `small`) traces.

    processes: writer processes; seisbench_python: an interpreter with
    SeisBench, to time its conversion of the same files ("" to skip).
    """
    big_dir, small_dir = datasets.generated_stead(workdir, traces), datasets.generated_stead(workdir, small)
    pairs = stead.find_pairs(big_dir)
    out = os.path.join(workdir, "records")
    read, converted = steady_rates(pairs, out, processes)
    read_1, converted_1 = steady_rates(pairs, out, 1)
    from_seisbench = seisbench_format_rate(datasets.seisbench_copy(workdir, traces), out, processes)
    big = end_to_end(big_dir, out, processes)
    small_memory, big_memory = (
        end_to_end(d, out, processes, f"--shard_mb={_MEMORY_SHARD_MB}") for d in (small_dir, big_dir)
    )
    scaling = converted / converted_1
    rows = [
        Row("conversion.h5py_read", f"h5py read (group[name][()]), {processes} processes", read, "traces/s"),
        Row(
            "conversion.rate",
            f"conversion, {processes} processes",
            converted,
            "traces/s",
            "h5py read",
            converted / read,
            ">= 0.8",
        ),
        Row(
            "conversion.seisbench_format",
            f"conversion from SeisBench's format (the same traces), {processes} processes",
            from_seisbench,
            "traces/s",
            "STEAD's files",
            from_seisbench / converted,
            ">= 0.9",
        ),
        Row("conversion.h5py_read_1", "h5py read, 1 process", read_1, "traces/s"),
        Row(
            "conversion.rate_1",
            "conversion, 1 process",
            converted_1,
            "traces/s",
            "h5py read",
            converted_1 / read_1,
        ),
        Row(
            "conversion.scaling",
            f"conversion, {processes} vs 1 processes",
            scaling,
            "x",
            "1 process",
            scaling,
            ">= 1.6",
        ),
        Row(
            "conversion.end_to_end",
            f"end to end, command line, {processes} processes (start-up included)",
            big["rate"],
            "traces/s",
        ),
        Row(
            "conversion.rss",
            f"peak RSS of any process, {traces:,} traces, default shards",
            big["rss_mb"],
            "MB",
        ),
        Row(
            "conversion.rss_small",
            f"peak RSS of any process, {small:,} traces, {_MEMORY_SHARD_MB} MB shards",
            small_memory["rss_mb"],
            "MB",
        ),
        Row(
            "conversion.rss_big",
            f"peak RSS of any process, {traces:,} traces, {_MEMORY_SHARD_MB} MB shards",
            big_memory["rss_mb"],
            "MB",
            f"{small:,} traces",
            big_memory["rss_mb"] / small_memory["rss_mb"],
            "<= 1.1",
        ),
    ]
    if seisbench_python:
        peer = seisbench_rate(seisbench_python, big_dir, os.path.join(workdir, "seisbench-cache"))
        ratio = big["rate"] / peer
        rows += [
            Row(
                "conversion.seisbench",
                "SeisBench's STEAD conversion, end to end, 1 process",
                peer,
                "traces/s",
            ),
            Row(
                "conversion.vs_seisbench",
                "end to end vs SeisBench's conversion",
                ratio,
                "x",
                "SeisBench",
                ratio,
                ">= 3",
            ),
        ]
    return rows
