"""Run a multi-worker training job on this machine, one process per worker.

    python tools/launch_local_cluster.py --num_workers=2 -- \\
        --flagfile=configs/classification.flags --flagfile=configs/local.flags \\
        --records=workdir/demo/records --model_dir=/tmp/run

Everything after `--` goes to every `python -m techtonics.train`. Each worker
gets TF_CONFIG on a free loopback port (worker 0 is the chief and writes the
model directory); their output is prefixed with the worker's name. If any
worker dies, the others are stopped and this exits non-zero; the same command
resumes the job. --data_service_workers=N also starts a tf.data service
dispatcher and N workers to prepare the batches. The logic is in
techtonics.cluster.
"""

from absl import flags

from techtonics.cluster import launcher
from techtonics.core import errors

flags.DEFINE_integer("num_workers", 2, "Trainer processes.", lower_bound=1)
flags.DEFINE_integer(
    "data_service_workers", 0, "tf.data service workers to start (0: no service).", lower_bound=0
)
flags.DEFINE_integer(
    "gpus_per_worker", 0, "GPUs each worker sees (0: do not set CUDA_VISIBLE_DEVICES).", lower_bound=0
)
FLAGS = flags.FLAGS


def main(argv):
    """Launches the workers and exits with the job's status."""
    return launcher.launch(argv[1:], FLAGS.num_workers, FLAGS.data_service_workers, FLAGS.gpus_per_worker)


if __name__ == "__main__":
    errors.run(main, arguments=True)
