"""Reading a shard's waveforms from HDF5 in the writer processes, and the pool those processes form.

Each writer process holds a little state between shards (_worker_state):
the counter of traces read, shared with the parent for its progress line,
and one reusable shard buffer. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

import numpy as np

from techtonics.conversion import plan
from techtonics.core import pool
from techtonics.data import seisbench_waveforms, stead

# A writer process's state: "counter" (traces read, shared with the parent) and "buffer" (one shard's
# waveforms). With one writer it lives in the parent, so writer_pool clears it on the way out.
_worker_state: dict = {}


def _init_worker(counter) -> None:
    """Sets up a writer process: the shared progress counter."""
    _worker_state.clear()
    _worker_state["counter"] = counter


def _count(done: int) -> None:
    counter = _worker_state.get("counter")
    if counter is not None:
        with counter.get_lock():
            counter.value += done


@contextlib.contextmanager
def writer_pool(processes: int) -> Iterator[tuple[pool.Pool, Any]]:
    """(pool of `processes` writer processes, shared counter of the traces they have read)."""
    counter = multiprocessing.get_context("spawn").Value("q", 0)
    try:
        with pool.Pool(processes, _init_worker, (counter,)) as writers:
            yield writers, counter
    finally:
        _worker_state.clear()  # a single writer runs in this process: its shard buffer goes now


def _open(path: str, traces):
    """The reader of one input file: STEAD's reads by name; SeisBench's by the traces' reading columns."""
    if seisbench_waveforms.NAME in traces.columns:
        return seisbench_waveforms.WaveformReader(path, traces)
    return stead.WaveformFile(path)


def read_waveforms(job: plan.ShardJob) -> tuple[np.ndarray, list[list[str]]]:
    """The shard's waveforms in write order, read in file order; and the bad traces skipped.

    A buffer of one shard (about --shard_mb) lets reading follow the HDF5
    file while writing follows the shard's random order.
    """
    traces = job.traces
    # One buffer per process, reused: first-touching 150 MB of fresh memory per shard costs as much as
    # reading it.
    buffer = _worker_state.get("buffer")
    if buffer is None or len(buffer) < len(traces):
        buffer = _worker_state["buffer"] = np.empty(
            (len(traces), *stead.WAVEFORM_SHAPE), stead.WAVEFORM_DTYPE
        )
    waveforms = buffer[: len(traces)]
    skipped = []
    pair_of, name_of = traces.pair.to_numpy(), traces.trace_name.to_numpy()
    # Files are opened per shard: HDF5's metadata cache keeps the header of every trace read (about
    # 170 MB of memory per open file once full), and a conversion reads each trace once.
    with contextlib.ExitStack() as stack:
        files = {p: stack.enter_context(_open(job.hdf5[p], traces[pair_of == p])) for p in np.unique(pair_of)}
        # SeisBench's blocks are read in their order in the file (its issue #36: 22x faster than at random).
        in_file = traces.get(seisbench_waveforms.FILE_ORDER, traces.row).to_numpy()
        for n, i in enumerate(np.lexsort((in_file, pair_of))):
            try:
                files[pair_of[i]].read(name_of[i], out=waveforms[i])
            except stead.BadTraceError as e:
                if job.on_bad_trace == "fail":
                    raise
                skipped.append([name_of[i], e.reason])
            if n % 64 == 63:
                _count(64)
    _count(len(traces) % 64)
    return waveforms, skipped
