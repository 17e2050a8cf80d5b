"""The strategy factory, cluster detection, and which process writes."""

import json

import numpy as np
import pytest
import tensorflow as tf

from techtonics.cluster import distribute
from techtonics.model import cnn
from techtonics.training import tasks


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, ""),
        (
            {
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}
                )
            },
            "",
        ),
        ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}})}, "tf_config"),
        ({"SLURM_STEP_NUM_TASKS": "1", "SLURM_JOB_ID": "7"}, ""),
        ({"SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "2"}, "slurm"),
    ],
    ids=["none", "one-task-tf-config", "tf-config", "one-task-slurm-step", "slurm-step"],
)
def test_cluster_environment(environ, expected):
    assert distribute.cluster_environment(environ) == expected


def test_bad_tf_config_is_a_one_line_error():
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        distribute.cluster_environment({"TF_CONFIG": "{cluster"})


@pytest.mark.parametrize(
    "name, collective, message",
    [("horovod", "auto", "unknown strategy"), ("mirrored", "mpi", "unknown collective")],
)
def test_unknown_names_are_rejected(name, collective, message):
    with pytest.raises(ValueError, match=message):
        distribute.make_strategy(name, collective)


def test_outside_a_cluster_one_process_writes_everything():
    strategy = distribute.make_strategy("auto")  # no TF_CONFIG, no GPUs here: the default strategy
    assert strategy is tf.distribute.get_strategy()
    assert distribute.is_chief(strategy) and distribute.num_workers(strategy) == 1
    assert distribute.task_name(strategy) == ""


class _Resolver:
    def __init__(self, cluster, task_type, task_id):
        self._cluster, self.task_type, self.task_id = cluster, task_type, task_id

    def cluster_spec(self):
        return tf.train.ClusterSpec(self._cluster)


class _Strategy:
    def __init__(self, cluster, task_type, task_id):
        self.cluster_resolver = _Resolver(cluster, task_type, task_id)


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("chief", 0), True),
        ({"chief": ["c:1"], "worker": ["a:1", "b:1"]}, ("worker", 0), False),
    ],
)
def test_the_chief_is_the_chief_task_or_worker_0(cluster, task, chief):
    strategy = _Strategy(cluster, *task)
    assert distribute.is_chief(strategy) == chief
    assert distribute.num_workers(strategy) == sum(len(t) for t in cluster.values())
    assert distribute.task_name(strategy) == f"{task[0]} {task[1]}"


def test_weights_fingerprint_follows_the_weights():
    regression = tasks.get("regression")
    model = regression.build_model(cnn.ModelConfig())
    same = regression.build_model(cnn.ModelConfig())
    same.set_weights(model.get_weights())
    assert distribute.weights_fingerprint(model) == distribute.weights_fingerprint(same)
    weights = same.get_weights()
    weights[-1] = weights[-1] + np.float32(1e-6)
    same.set_weights(weights)
    assert distribute.weights_fingerprint(model) != distribute.weights_fingerprint(same)
