"""A tf.data service dispatcher or worker, for jobs whose trainers' CPUs cannot feed the accelerators.

    python -m techtonics.data_service --role=dispatcher --port=5050
    python -m techtonics.data_service --role=worker --dispatcher_address=HOST:5050 --port=5051

Start one dispatcher and as many workers as the input needs (on CPU
machines that can read the records), then train with
--data_service_address=grpc://HOST:5050: the workers read, decode and batch,
and every trainer takes the next batch of a job they share.
tools/launch_local_cluster.py --data_service_workers=N starts them for you.
"""

import socket

import tensorflow as tf
from absl import flags

from techtonics import errors
from techtonics.errors import UserError

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


def main(argv):
    """Serves until stopped."""
    del argv
    f = flags.FLAGS
    serve(f.role, f.port, f.dispatcher_address, f.worker_host)


if __name__ == "__main__":
    flags.DEFINE_enum("role", None, ROLES, "Which server to run.")
    flags.DEFINE_integer("port", 5050, "Port to serve on.", lower_bound=1)
    flags.DEFINE_string("dispatcher_address", "", "host:port of the dispatcher (workers only).")
    flags.DEFINE_string(
        "worker_host", "", "Host name trainers reach this worker by (workers only; default: FQDN)."
    )
    flags.mark_flag_as_required("role")
    errors.run(main)
