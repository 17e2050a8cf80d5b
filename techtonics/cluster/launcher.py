"""A multi-worker job on one machine: the trainers, TF_CONFIG and an optional tf.data service.

`launch` starts N copies of `python -m techtonics.train` with TF_CONFIG on
free loopback ports (worker 0 is the chief), and optionally a tf.data service
dispatcher and workers whose address the trainers get as
--data_service_address. Every line a process prints is streamed with its name
in front. A synchronous job cannot go on without any of its workers, so when
one process fails all the others are stopped and the launch fails; running
the same command again resumes from the chief's last backup.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TextIO

from techtonics.core.errors import UserError

_GRACE_SECONDS = 10.0


def free_ports(count: int) -> list[int]:
    """Ports that were free on loopback a moment ago (all held at once, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(worker_ports: list[int], index: int) -> str:
    """TF_CONFIG of worker `index` of a cluster of workers on loopback."""
    cluster = {"worker": [f"localhost:{port}" for port in worker_ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


class _Log:
    """One output stream that several threads write whole, prefixed lines to."""

    def __init__(self, out: TextIO):
        self._out, self._lock = out, threading.Lock()

    def line(self, name: str, text: str) -> None:
        text = text.rstrip("\n")
        with self._lock:
            self._out.write(f"[{name}] {text}\n")
            self._out.flush()


class _Process:
    """A child process whose output lines are copied, prefixed with its name, to the log."""

    def __init__(self, name: str, command: list[str], env: dict, log: _Log):
        self.name = name
        self.popen = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # signals to the launcher do not reach the children twice
        )
        self._thread = threading.Thread(target=self._copy, args=(log,), daemon=True)
        self._thread.start()

    def _copy(self, log: _Log) -> None:
        for line in self.popen.stdout:
            log.line(self.name, line)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)

    def finish(self) -> None:
        self.popen.wait()
        self._thread.join(timeout=5)


def _stop_all(processes: list[_Process]) -> None:
    for p in processes:
        p.stop()
    deadline = time.monotonic() + _GRACE_SECONDS
    while time.monotonic() < deadline and any(p.popen.poll() is None for p in processes):
        time.sleep(0.1)
    for p in processes:
        p.kill()
        p.finish()


def launch(
    train_args: list[str],
    num_workers: int,
    data_service_workers: int = 0,
    gpus_per_worker: int = 0,
    out: TextIO = sys.stdout,
) -> int:
    """Runs the trainer on num_workers processes; 0 when all of them finish, else the first failure's code.

    train_args: the trainer's command-line arguments, the same for every
    worker. data_service_workers: tf.data service workers to start with a
    dispatcher (0: none); the trainers then read through it.
    gpus_per_worker: when positive, worker i sees GPUs i*g .. i*g+g-1 only;
    0 leaves CUDA_VISIBLE_DEVICES as it is. out: where the workers' prefixed
    output lines go.
    """
    if num_workers < 1 or data_service_workers < 0 or gpus_per_worker < 0:
        raise UserError("num_workers must be at least 1; data_service_workers and gpus_per_worker at least 0")
    log = _Log(out)
    ports = free_ports(num_workers + 1 + data_service_workers)
    worker_ports, dispatcher_port, service_ports = (
        ports[:num_workers],
        ports[num_workers],
        ports[num_workers + 1 :],
    )
    python = [sys.executable, "-u", "-m"]
    services: list[_Process] = []
    if data_service_workers:
        dispatcher = f"localhost:{dispatcher_port}"
        services.append(
            _Process(
                "dispatcher",
                [*python, "techtonics.data_service", "--role=dispatcher", f"--port={dispatcher_port}"],
                dict(os.environ),
                log,
            )
        )
        for i, port in enumerate(service_ports):
            command = [
                *python,
                "techtonics.data_service",
                "--role=worker",
                f"--port={port}",
                f"--dispatcher_address={dispatcher}",
                "--worker_host=localhost",
            ]
            services.append(_Process(f"data {i}", command, dict(os.environ), log))
        train_args = [*train_args, f"--data_service_address=grpc://{dispatcher}"]
    trainers = []
    for i in range(num_workers):
        env = dict(os.environ, TF_CONFIG=tf_config(worker_ports, i))
        if gpus_per_worker:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(
                str(i * gpus_per_worker + g) for g in range(gpus_per_worker)
            )
        trainers.append(_Process(f"worker {i}", [*python, "techtonics.train", *train_args], env, log))
    for p in services + trainers:
        log.line("launcher", f"{p.name}: pid {p.popen.pid}")
    return _supervise(trainers, services, log)


def _supervise(trainers: list[_Process], services: list[_Process], log: _Log) -> int:
    everyone = trainers + services
    try:
        while True:
            # A trainer that fails, or a data service process that ends at all, ends the job.
            failed = next((p for p in trainers if p.popen.poll() not in (None, 0)), None)
            failed = failed or next((p for p in services if p.popen.poll() is not None), None)
            if failed is not None:
                code = failed.popen.returncode
                log.line("launcher", f"{failed.name} exited with {code}; stopping the others")
                _stop_all(everyone)
                return 128 - code if code < 0 else code or 1  # killed by signal N: 128 + N, as shells say
            if all(p.popen.poll() == 0 for p in trainers):
                _stop_all(services)
                for p in trainers:
                    p.finish()
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop_all(everyone)
        return 130
