"""One factory for tf.distribute strategies, and which process writes what.

`auto` picks MultiWorkerMirroredStrategy when the process is one task of a
cluster (TF_CONFIG names more than one task, or it runs in a Slurm step of
several tasks), and otherwise what `machine_strategy` picks on this machine:
MirroredStrategy with several GPUs, the default strategy without. The
strategy must be made before any other TensorFlow op runs:
MultiWorkerMirroredStrategy configures the collective ops of the eager context.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import tensorflow as tf

from techtonics.core.errors import UserError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
MACHINE_STRATEGIES = ("auto", "default", "mirrored")  # this machine's devices only
COLLECTIVES = ("auto", "ring", "nccl")


def cluster_environment(environ=os.environ) -> str:
    """Which cluster describes this process: "tf_config", "slurm", or "" for none."""
    try:
        cluster = json.loads(environ.get("TF_CONFIG") or "{}").get("cluster", {})
    except json.JSONDecodeError as e:
        raise UserError(f"TF_CONFIG is not JSON: {e}") from None
    if sum(len(tasks) for tasks in cluster.values()) > 1:
        return "tf_config"
    if int(environ.get("SLURM_STEP_NUM_TASKS", "1")) > 1:
        return "slurm"
    return ""


def slurm_port_base(environ=os.environ) -> int:
    """First port of a Slurm job's tasks on a node: 20000-29999 by job id, so jobs sharing a node differ."""
    return 20000 + int(environ.get("SLURM_JOB_ID", "0")) % 10000


def _slurm_resolver() -> tf.distribute.cluster_resolver.ClusterResolver:
    """The Slurm step's cluster; on GPU nodes SlurmClusterResolver also splits the GPUs among its tasks."""
    resolver = tf.distribute.cluster_resolver
    if os.environ.get("CUDA_VISIBLE_DEVICES") or shutil.which("nvidia-smi"):
        return resolver.SlurmClusterResolver(port_base=slurm_port_base())
    # SlurmClusterResolver places tasks on GPUs and finds no place without one: on CPU
    # nodes, give it one per task for the cluster spec and then report no accelerators.
    tasks = int(os.environ["SLURM_STEP_NUM_TASKS"])
    slurm = resolver.SlurmClusterResolver(
        port_base=slurm_port_base(), gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False
    )
    spec = slurm.cluster_spec()
    return resolver.SimpleClusterResolver(
        spec, task_type=slurm.task_type, task_id=slurm.task_id, rpc_layer="grpc"
    )


def _cross_device_ops(collective: str):
    """MirroredStrategy's all-reduce: NCCL, or NCCL-free hierarchical copies for "ring"."""
    return {
        "auto": None,
        "nccl": tf.distribute.NcclAllReduce(),
        "ring": tf.distribute.HierarchicalCopyAllReduce(),
    }[collective]


def make_strategy(name: str, collective: str = "auto") -> tf.distribute.Strategy:
    """The strategy called `name` (one of STRATEGIES); unknown names are an error.

    collective (one of COLLECTIVES): the all-reduce implementation, RING or
    NCCL under MultiWorkerMirroredStrategy, NcclAllReduce or
    HierarchicalCopyAllReduce under MirroredStrategy.
    """
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")
    if collective not in COLLECTIVES:
        raise UserError(f"unknown collective {collective!r}; use one of {', '.join(COLLECTIVES)}")
    environment = cluster_environment()
    if name == "auto" and environment:
        name = "multi_worker"
    if name == "multi_worker":
        resolver = _slurm_resolver() if environment == "slurm" else None
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation[collective.upper()]
        )
        return tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options
        )
    return machine_strategy(name, collective)


def machine_strategy(name: str, collective: str = "auto") -> tf.distribute.Strategy:
    """One of MACHINE_STRATEGIES over this machine's devices, whatever cluster the process is part of.

    auto: MirroredStrategy over every GPU when there are several, else the
    default strategy. collective: MirroredStrategy's all-reduce (see make_strategy).
    """
    if name not in MACHINE_STRATEGIES:
        raise UserError(
            f"unknown strategy {name!r} on one machine; use one of {', '.join(MACHINE_STRATEGIES)}"
        )
    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(cross_device_ops=_cross_device_ops(collective))
    return tf.distribute.get_strategy()


def _cluster(strategy: tf.distribute.Strategy) -> tuple[dict, object]:
    resolver = getattr(strategy, "cluster_resolver", None)
    return (resolver.cluster_spec().as_dict() if resolver else {}), resolver


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Processes that each run an input pipeline."""
    cluster, _ = _cluster(strategy)
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the model directory: the chief, or worker 0 when there is none.

    Keras's ModelCheckpoint, BackupAndRestore and TensorBoard already send
    other workers' writes to temporary directories and remove them; everything
    else the trainer writes asks this first.
    """
    cluster, resolver = _cluster(strategy)
    if not cluster or resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def task_name(strategy: tf.distribute.Strategy) -> str:
    """ "worker 1", "chief 0", or "" outside a cluster: how log lines name this process."""
    cluster, resolver = _cluster(strategy)
    return f"{resolver.task_type} {resolver.task_id}" if cluster else ""


def weights_fingerprint(model) -> str:
    """A short digest of the model's weights: equal on every worker of a synchronous job."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(weights.tobytes())
    return digest.hexdigest()[:16]
