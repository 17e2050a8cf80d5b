"""One bounded pool of local processes, for the converter's writers and the synthetic STEAD's generators.

Processes are spawned, not forked: a parent that holds TensorFlow or HDF5
state must not fork. At most two tasks per process are queued at a time, so
tasks made lazily (one shard's metadata, one block of traces) are made as
the pool takes them, and results never pile up when the consumer is slower
than the processes (Pool.imap queues every task at once and buffers without
bound). With one process, tasks run in this one.
"""

from __future__ import annotations

import collections
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator


class Pool:
    """`processes` processes that stay up between `imap` calls; an error in one is re-raised in the parent."""

    def __init__(self, processes: int, initializer: Callable | None = None, initargs: tuple = ()):
        self.processes = processes
        self._pool = None
        if processes > 1:
            context = multiprocessing.get_context("spawn")
            # Ctrl-C reaches the whole process group; the parent alone handles it, in one line. The
            # processes inherit an ignored SIGINT, and Python then leaves it ignored from their start.
            handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self._pool = context.Pool(processes, initializer=initializer, initargs=initargs)
            finally:
                signal.signal(signal.SIGINT, handler)
        elif initializer is not None:
            initializer(*initargs)

    def imap(
        self, function: Callable, tasks: Iterable, ordered: bool, waiting: Callable[[], None] = lambda: None
    ) -> Iterator:
        """function(task) for every task: in task order if `ordered`, else as they finish.

        waiting: called about every 50 ms while no result is ready (progress reports).
        """
        if self._pool is None:
            for task in tasks:
                yield function(task)
                waiting()
            return
        queue, pending = iter(tasks), collections.deque()
        more = True
        while more or pending:
            while more and len(pending) < 2 * self.processes:
                task = next(queue, _END)
                more = task is not _END
                if more:
                    pending.append(self._pool.apply_async(function, (task,)))
            if not pending:
                break
            ready = list(_ready_head(pending)) if ordered else [r for r in pending if r.ready()]
            if not ready:
                waiting()
                pending[0].wait(0.05)
                continue
            for result in ready:
                pending.remove(result)
                yield result.get()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


_END = object()


def _ready_head(pending: collections.deque) -> Iterator:
    """The finished results at the front of the queue, in order."""
    for result in pending:
        if not result.ready():
            return
        yield result
