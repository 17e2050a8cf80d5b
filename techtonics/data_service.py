"""A tf.data service dispatcher or worker, for jobs whose trainers' CPUs cannot feed the accelerators.

    python -m techtonics.data_service --role=dispatcher --port=5050
    python -m techtonics.data_service --role=worker --dispatcher_address=HOST:5050 --port=5051

Start one dispatcher and as many workers as the input needs (on CPU
machines that can read the records), then train with
--data_service_address=grpc://HOST:5050: the workers read, decode and batch,
and every trainer takes the next batch of a job they share.
tools/launch_local_cluster.py --data_service_workers=N starts them for you.
"""

from absl import flags

from techtonics.cluster import data_service
from techtonics.core import errors

flags.DEFINE_enum("role", None, data_service.ROLES, "Which server to run.")
flags.DEFINE_integer("port", 5050, "Port to serve on.", lower_bound=1)
flags.DEFINE_string("dispatcher_address", "", "host:port of the dispatcher (workers only).")
flags.DEFINE_string(
    "worker_host", "", "Host name trainers reach this worker by (workers only; default: FQDN)."
)
flags.mark_flag_as_required("role")
FLAGS = flags.FLAGS


def main(argv):
    """Serves until stopped."""
    del argv
    data_service.serve(FLAGS.role, FLAGS.port, FLAGS.dispatcher_address, FLAGS.worker_host)


if __name__ == "__main__":
    errors.run(main)
