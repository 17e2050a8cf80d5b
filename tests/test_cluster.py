"""Multi-worker jobs through tools/launch_local_cluster.py: two CPU workers train in step,
a SIGKILLed worker stops the job and the same command resumes it, and the tf.data service."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO

from techtonics.cluster import distribute, launcher

LAUNCHER = str(REPO / "tools" / "launch_local_cluster.py")


def _command(records, model_dir, *launcher_flags, epochs=2):
    train = [
        f"--records={records}",
        f"--model_dir={model_dir}",
        f"--epochs={epochs}",
        "--batch_size=8",
        "--shuffle_buffer=64",
        "--evaluate_split=test",
    ]
    return [sys.executable, LAUNCHER, *launcher_flags, "--", *train]


def _run(command) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)


def _history_epochs(model_dir) -> list[int]:
    with open(model_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _final_weights(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\[(worker \d+)\] worker \d+: final weights (\w+)$", output, re.MULTILINE))


def test_free_ports_differ_and_tf_config_names_every_worker():
    ports = launcher.free_ports(3)
    assert len(set(ports)) == 3
    config = json.loads(launcher.tf_config(ports, 2))
    assert config == {
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": 2},
    }


def test_the_slurm_script_is_valid_bash_and_passes_only_trainer_flags():
    script = REPO / "tools" / "slurm" / "train.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    from techtonics import train  # noqa: F401  (defines the trainer's flags)

    srun = script.read_text().split("srun ", 1)[1]
    passed = re.findall(r"--(\w+)=", srun.split("techtonics.train", 1)[1])
    assert {"flagfile", "records", "model_dir", "strategy", "collective"} <= set(passed)
    assert all(name in train.FLAGS for name in passed if name != "flagfile")


def test_a_data_service_worker_without_a_dispatcher_is_a_one_line_error():
    result = _run([sys.executable, "-m", "techtonics.data_service", "--role=worker", "--port=1"])
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
        "error: --dispatcher_address is required for a worker"
    )
    assert "Traceback" not in result.stderr


def test_a_failing_worker_fails_the_launch_with_its_error(tmp_path):
    result = _run(_command(tmp_path / "missing", tmp_path / "model", "--num_workers=2"))
    assert result.returncode == 1
    assert re.search(r"^\[worker \d\] error: .*missing.*manifest", result.stdout, re.MULTILINE), (
        result.stdout[-2000:]
    )
    assert "exited with 1; stopping the others" in result.stdout


@pytest.mark.slow
def test_two_workers_train_in_step_and_only_the_chief_writes(tiny_records, tmp_path):
    model_dir = tmp_path / "model"
    result = _run(_command(tiny_records, model_dir, "--num_workers=2"))
    assert result.returncode == 0, result.stdout[-3000:]
    weights = _final_weights(result.stdout)
    assert set(weights) == {"worker 0", "worker 1"} and len(set(weights.values())) == 1
    assert "global batch 8 = 4 per replica x 2 replicas" in result.stdout
    assert sorted(p.name for p in (model_dir / "checkpoints").glob("*.index")) == [
        "epoch-001.index",
        "epoch-002.index",
    ]
    assert _history_epochs(model_dir) == [0, 1]
    assert (model_dir / "export" / "saved_model.pb").exists()
    assert json.loads((model_dir / "eval" / "test" / "metrics.json").read_text())["examples"] > 0
    assert not [p for p in model_dir.rglob("*") if "workertemp" in p.name]  # worker 1's writes were removed
    assert result.stdout.count("exported model:") == 1


@pytest.mark.slow
def test_a_killed_worker_stops_the_job_and_the_same_command_resumes(tiny_records, tmp_path):
    model_dir = tmp_path / "model"
    command = _command(tiny_records, model_dir, "--num_workers=2", epochs=6)
    log = tmp_path / "launcher.log"
    with open(log, "w") as out:
        launcher = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        deadline = time.monotonic() + 240
        while "[worker 1] Epoch 2/6" not in log.read_text():  # epoch 1 is backed up: mid-epoch 2 from here
            assert launcher.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        worker_1 = int(re.search(r"\[launcher\] worker 1: pid (\d+)", log.read_text()).group(1))
        os.kill(worker_1, signal.SIGKILL)
        assert launcher.wait(timeout=120) != 0
    assert "[launcher] worker 1 exited with -9; stopping the others" in log.read_text()
    done = _history_epochs(model_dir)
    assert done == list(range(len(done))) and 1 <= len(done) < 6

    result = _run(command)
    assert result.returncode == 0, result.stdout[-3000:]
    resumed = [
        int(e)
        for e in re.search(r"\[worker 0\] trained epochs \[([\d, ]+)\]", result.stdout).group(1).split(",")
    ]
    # Only an epoch whose backup the kill interrupted (after its history row) is trained again.
    assert resumed == list(range(resumed[0], 7)) and resumed[0] in (len(done), len(done) + 1)
    assert _history_epochs(model_dir) == list(range(6))
    assert len(set(_final_weights(result.stdout).values())) == 1


def _free_slurm_job_id(tasks: int) -> int:
    """A job id whose ports (distribute.slurm_port_base) are free on loopback now."""
    for job_id in range(4242, 14242, 7):
        base = distribute.slurm_port_base({"SLURM_JOB_ID": str(job_id)})
        try:
            sockets = [socket.create_server(("localhost", base + i)) for i in range(tasks)]
        except OSError:
            continue
        for s in sockets:
            s.close()
        return job_id
    raise AssertionError("no free ports")


@pytest.mark.slow
def test_a_slurm_step_of_two_cpu_tasks_trains_with_strategy_auto(tiny_records, tmp_path):
    # What `srun` gives each task of tools/slurm/train.sbatch, on one node, with a stand-in scontrol.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho localhost\n")
    (bin_dir / "scontrol").chmod(0o755)
    step = {
        "SLURM_JOB_ID": str(_free_slurm_job_id(2)),
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_STEP_NODELIST": "localhost",
        "SLURM_STEP_TASKS_PER_NODE": "2",
    }
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "CUDA_VISIBLE_DEVICES")}
    env.update(step, PATH=f"{bin_dir}:{env['PATH']}")
    model_dir = tmp_path / "model"
    train = [
        sys.executable,
        "-m",
        "techtonics.train",
        f"--records={tiny_records}",
        f"--model_dir={model_dir}",
        "--epochs=1",
        "--batch_size=8",
        "--evaluate_split=none",
        "--strategy=auto",
    ]
    tasks = [
        subprocess.Popen(
            train,
            env={**env, "SLURM_PROCID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        for i in range(2)
    ]
    outputs = [task.communicate(timeout=300)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    fingerprints = [
        re.search(r"^worker (\d): final weights (\w+)$", out, re.MULTILINE).groups() for out in outputs
    ]
    assert sorted(f[0] for f in fingerprints) == ["0", "1"] and fingerprints[0][1] == fingerprints[1][1]
    assert (model_dir / "checkpoints" / "epoch-001.index").exists()


@pytest.mark.slow
def test_training_through_the_tf_data_service(tiny_records, tmp_path):
    model_dir = tmp_path / "model"
    result = _run(_command(tiny_records, model_dir, "--num_workers=2", "--data_service_workers=1"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "[dispatcher] tf.data service dispatcher serving" in result.stdout
    assert "[data 0] tf.data service worker serving" in result.stdout
    assert len(set(_final_weights(result.stdout).values())) == 1 and _history_epochs(model_dir) == [0, 1]
    assert (model_dir / "export" / "saved_model.pb").exists()
