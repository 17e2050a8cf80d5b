"""The error contract: user mistakes in one line, known TensorFlow errors explained, bugs with a traceback."""

import ast
import subprocess
import sys

import pytest
from conftest import REPO
from test_layout import COMMANDS  # every command; each must run its main through errors.run

from techtonics.core import errors

_RUN = """
import sys
from techtonics.core import errors
import tensorflow as tf

def main(argv):
    kind = argv[1]
    if kind == "user":
        raise errors.UserError("/data/x.csv: trace T1: bad value")
    if kind == "data_loss":
        raise tf.errors.DataLossError(None, None, "corrupted record at 12")
    if kind == "bug":
        {}["missing key"]
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "disk_full":
        raise tf.errors.ResourceExhaustedError(None, None, "m/ckpt_temp/part-0; No space left on device")
    if kind == "sigterm":
        import os, signal, time
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    if kind == "unknown_scheme":
        tf.io.gfile.exists("S3://bucket/records")  # the scheme in capitals, as a typo has it
    if kind == "os_disk_full":
        raise OSError(28, "No space left on device", "/out/summary.json")
    return 0

errors.run(main, arguments=True)
"""


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _RUN, *arguments], capture_output=True, text=True, cwd=REPO)


def test_a_user_error_is_one_line_and_exit_1():
    done = _run("user")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: /data/x.csv: trace T1: bad value"
    assert "Traceback" not in done.stderr


def test_a_known_tensorflow_error_is_explained_then_shown():
    done = _run("data_loss")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert lines[-2].startswith("error: a file is corrupt or truncated; find a bad shard with")
    assert lines[-1] == "DataLossError: corrupted record at 12"


def test_a_scheme_tensorflow_has_no_file_system_for_is_one_line_saying_which_it_has():
    done = _run("unknown_scheme")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert lines[-2] == "error: S3:// is no file system here; paths are local, gs://, s3://, hdfs:// or az://"
    assert lines[-1].startswith("UnimplementedError: File system scheme 'S3' not implemented")


def test_a_full_disk_is_not_called_out_of_memory():
    # Issue 22, item 8: a full disk during training said "out of memory; lower --batch_size".
    done = _run("disk_full")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-2].startswith("error: no space left on the device; free space")


def test_ctrl_c_is_one_line_and_exit_130():
    done = _run("interrupt")
    assert done.returncode == 130 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: interrupted; run the same command again to resume"


def test_a_bad_flag_is_one_error_line():
    done = subprocess.run(
        [sys.executable, "-m", "techtonics.convert", "--output_dir=o", "--min_shards=0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "FATAL" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: flag --min_shards=0: 0 is not a positive integer"


def test_an_unexpected_exception_keeps_its_traceback():
    done = _run("bug")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "KeyError: 'missing key'" in done.stderr


_BROKEN = """
import importlib, runpy, sys

def broken(*args, **kwargs):
    raise ZeroDivisionError("injected bug")

setattr(importlib.import_module({module!r}), {function!r}, broken)
sys.argv = {argv!r}
runpy.run_module({command!r}, run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(
    "command, module, function, arguments",
    [
        (
            "techtonics.train",
            "techtonics.training.trainer",
            "train_and_evaluate",
            ["--records=r", "--model_dir=m"],
        ),
        ("techtonics.convert", "techtonics.conversion.verify", "verify", ["--output_dir=o", "--verify"]),
        ("techtonics.synthetic", "techtonics.core.pool", "Pool", ["--output_dir=o"]),
    ],
)
def test_a_bug_inside_a_command_keeps_its_traceback(tmp_path, command, module, function, arguments):
    script = _BROKEN.format(module=module, function=function, argv=[command, *arguments], command=command)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert (
        "Traceback (most recent call last)" in done.stderr
        and "ZeroDivisionError: injected bug" in done.stderr
    )


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_runs_through_the_error_contract(path):
    tree = ast.parse((REPO / path).read_text())
    main_block = next(
        node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    )
    calls = [ast.unparse(node.func) for node in ast.walk(main_block) if isinstance(node, ast.Call)]
    assert "errors.run" in calls, f"{path}: its __main__ block does not call errors.run"


def test_positional_arguments_are_refused_by_every_command_that_takes_none():
    done = subprocess.run(
        [sys.executable, "-m", "techtonics.convert", "--output_dir=o", "stray"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: unexpected arguments: stray (see --help)"


def test_the_list_of_commands_is_complete():
    # Not commands of this shape: the documented converter path, which runs techtonics.convert, and
    # SeisBench's peer, a stand-alone script run under SeisBench's own interpreter.
    scripts = {"tools/convert_to_tfrecord.py", "tools/seisbench_peer.py"}
    files = [*REPO.glob("techtonics/**/*.py"), *REPO.glob("tools/*.py")]
    with_main = {str(p.relative_to(REPO)) for p in files if 'if __name__ == "__main__":' in p.read_text()}
    assert with_main == set(COMMANDS) | scripts


def test_a_full_disk_outside_tensorflow_is_one_line_naming_the_file():
    done = _run("os_disk_full")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: /out/summary.json: {errors.NO_SPACE}"


def test_a_sigterm_is_one_line_and_exit_143():
    done = _run("sigterm")
    assert done.returncode == 143 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip().splitlines()[-1]
        == "error: stopped by SIGTERM; run the same command again to resume"
    )
