"""Conversion benchmarks: the converter against h5py's read rate, one against all processes, end to end, and SeisBench.

Imports no TensorFlow: `h5py_read` runs in the converter's own writer
processes, which never load it (convert.py), so the read bound and the
conversion are timed on the same warm processes over the same planned shards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np

from techtonics import convert, fileio, records, stead

_TOOL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "convert_to_tfrecord.py"
)
_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seisbench_peer.py")
_files: dict[str, h5py.File] = {}


def h5py_read(job: convert.ShardJob) -> int:
    """The read bound: a shard's traces read as users and SeisBench read STEAD, `group[name][()]`, in file order."""
    traces = job.traces.iloc[np.argsort(job.traces.row.to_numpy(), kind="stable")]
    for pair, name in zip(traces.pair, traces.trace_name):
        path = job.hdf5[pair]
        if path not in _files:
            _files[path] = h5py.File(path, "r")
        _files[path][stead.HDF5_GROUP][name][()]
    return len(traces)


def steady_rates(pairs: list[stead.SteadPair], output_dir: str, workers: int) -> tuple[float, float]:
    """(h5py read, conversion) traces/s over the same planned shards on one warm pool of writer processes.

    Both run on the same started processes, so the ratio compares the work
    per trace, not process start-up (which a long run amortises).
    """
    config = convert.ConvertConfig(pairs=tuple(pairs), output_dir=output_dir, num_workers=workers)
    planned = convert.plan(config)
    jobs = [convert.shard_job(shard, planned.meta, config) for shard in planned.shards]
    traces = sum(len(job.traces) for job in jobs)
    with convert.WriterPool(workers) as pool:
        pool.map(h5py_read, jobs)  # start-up paid, page cache warm
        rates = []
        for task in (h5py_read, convert.write_shard):
            fileio.rmtree(output_dir)  # renaming over old shards would make ext4 flush them
            fileio.makedirs(output_dir)
            os.sync()  # the previous phase's dirty pages are written back now, not during this one
            start = time.perf_counter()
            pool.map(task, jobs)
            rates.append(traces / (time.perf_counter() - start))
    return rates[0], rates[1]


# Runs a command from a fresh interpreter (RUSAGE_CHILDREN is then the largest of its processes), prefixing each
# output line with the seconds since the start; prints the wall time and that peak RSS last.
_PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
for line in child.stdout:
    print(f"{time.perf_counter() - start:.3f} {line}", end="", flush=True)
child.wait()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(child.returncode)
"""


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, largest resident set of any of its processes in MB, its output with time-stamped lines)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *command], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    *output, last = done.stdout.rstrip("\n").split("\n")
    seconds, rss_kb = last.split()
    return float(seconds), int(rss_kb) / 1024.0, "\n".join(output)


def converter_command(*arguments: str) -> list[str]:
    """The converter's command line, as users run it."""
    return [sys.executable, _TOOL, *arguments]


def end_to_end(stead_dir: str, output_dir: str, workers: int, *arguments: str) -> dict:
    """The converter's command line from start to manifest: wall time, traces/s, peak RSS, bytes written."""
    fileio.rmtree(output_dir)
    command = converter_command(
        f"--stead_dir={stead_dir}",
        f"--output_dir={output_dir}",
        f"--num_workers={workers}",
        "--noprogress",
        *arguments,
    )
    seconds, rss, _ = run_measured(command)
    manifest = records.read_manifest(output_dir)
    traces = sum(split["count"] for split in manifest["splits"].values())
    written = sum(
        os.path.getsize(os.path.join(output_dir, name))
        for name in os.listdir(output_dir)
        if name != convert.PROGRESS_DIR
    )
    return {"seconds": seconds, "traces": traces, "rate": traces / seconds, "rss_mb": rss, "bytes": written}


def has_seisbench(python: str) -> bool:
    """Whether `python` runs and finds the seisbench package (without importing it and PyTorch)."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('seisbench') is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def seisbench_rate(python: str, stead_dir: str, cache: str) -> float:
    """Traces/s of SeisBench's STEAD conversion of the same merged pair (seisbench_peer.py) under `python`."""
    seconds, _, output = run_measured([python, _PEER, f"--stead_dir={stead_dir}", f"--cache={cache}"])
    match = re.search(r": (\d+) traces in ", output)
    if not match:
        raise RuntimeError(f"SeisBench's conversion printed no result:\n{output[-2000:]}")
    return int(match.group(1)) / seconds
