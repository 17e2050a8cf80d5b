"""A tf.data service dispatcher or worker, for jobs whose trainers' CPUs cannot feed the accelerators.

The command is `python -m techtonics.data_service` (techtonics/data_service.py).
Start one dispatcher and as many workers as the input needs (on CPU machines
that can read the records), then train with --data_service_address: the
workers read, decode and batch, and every trainer takes the next batch of a
job they share. launcher.py starts them on one machine.
"""

import socket

import tensorflow as tf

from techtonics.core import fileio
from techtonics.core.errors import UserError

ROLES = ("dispatcher", "worker")


def serve(role: str, port: int, dispatcher_address: str = "", worker_host: str = "") -> None:
    """Runs a dispatcher or a worker on `port` until the process is stopped.

    role: "dispatcher" or "worker"; dispatcher_address: the dispatcher's
    host:port (workers only); worker_host: the name trainers reach this
    worker by (default: this machine's FQDN).
    """
    if role == "dispatcher":
        server = tf.data.experimental.service.DispatchServer(
            tf.data.experimental.service.DispatcherConfig(port=port)
        )
    elif role == "worker":
        if not dispatcher_address:
            raise UserError("--dispatcher_address is required for a worker")
        fileio.load_extra_file_systems()  # the worker reads the records itself
        config = tf.data.experimental.service.WorkerConfig(
            dispatcher_address=dispatcher_address.removeprefix("grpc://"),
            worker_address=f"{worker_host or socket.getfqdn()}:{port}",
            port=port,
        )
        server = tf.data.experimental.service.WorkerServer(config)
    else:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    print(f"tf.data service {role} serving on port {port}", flush=True)
    server.join()
