"""One factory for tf.distribute strategies, and which process writes what.

`auto` picks MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster,
MirroredStrategy with several GPUs, and the default strategy otherwise.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def _cluster_from_environment() -> bool:
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values()) > 1


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called `name` (one of STRATEGIES); unknown names are an error."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if _cluster_from_environment():
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
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
    other workers' writes to temporary directories; everything else the
    trainer writes asks this first.
    """
    cluster, resolver = _cluster(strategy)
    if not cluster or resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster
