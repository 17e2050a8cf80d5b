"""The package installs as users install it: plain, without extras, and by make with the newest Python."""

import configparser
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_a_plain_install_runs_the_commands_from_another_directory(tmp_path):
    source, target, elsewhere = tmp_path / "source", tmp_path / "site", tmp_path / "elsewhere"
    shutil.copytree(REPO / "techtonics", source / "techtonics", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    # Dependencies come from this environment; without network, build with its own setuptools.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        *isolation,
        f"--target={target}",
        str(source),
    ]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))  # ahead of the editable install in this environment
    where = subprocess.run(
        [sys.executable, "-c", "import techtonics; print(techtonics.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    )
    assert where.stdout.startswith(str(target))
    for command in ("techtonics.demo", "techtonics.bench", "techtonics.convert", "techtonics.train"):
        done = subprocess.run(
            [sys.executable, "-m", command, "--help"],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=env,
            timeout=300,
        )
        # absl's --help prints the docstring and the flags, then exits 1.
        assert "Traceback" not in done.stderr and "Try --helpfull" in done.stdout, (
            f"{command}: {done.stderr[-2000:]}"
        )
        assert str(REPO) not in done.stdout
    # The benchmark runs the converter's command line as users do: from the installed package.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "techtonics.synthetic",
            "--output_dir=stead",
            "--earthquakes=30",
            "--noise=30",
            "--processes=1",
        ],
        check=True,
        capture_output=True,
        cwd=elsewhere,
        env=env,
        timeout=300,
    )
    measure = (
        "from techtonics.bench import conversion as c; print(c.end_to_end('stead', 'records', 1)['traces'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300
    )
    assert done.returncode == 0 and done.stdout.split() == ["60"], done.stderr[-2000:]


# Imported first by every Python process that finds it on PYTHONPATH: the extras are not installed.
_NO_EXTRAS = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"obspy", "moto", "pytest", "seisbench", "boto3"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""


@pytest.mark.slow
def test_without_the_extras_every_command_helps_and_a_job_runs(tmp_path):
    # Issue 22, item 7: `pip install .` without extras, then `python -m techtonics.bench --help`, ended
    # in ModuleNotFoundError: obspy. Every process here has the extras hidden, as a plain install lacks them.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(_NO_EXTRAS)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))

    def run(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, *arguments], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
        )
        assert not check or done.returncode == 0, f"{arguments}: {done.stderr[-2000:]}"
        return done

    assert "ModuleNotFoundError" in run("-c", "import obspy", check=False).stderr  # the extras are hidden
    from test_layout import COMMANDS, _module_name

    for path in COMMANDS:
        command = [str(REPO / path)] if path.startswith("tools/") else ["-m", _module_name(path)]
        done = run(*command, "--help", check=False)
        assert "Traceback" not in done.stderr and "Try --helpfull" in done.stdout, (
            f"{path}: {done.stderr[-2000:]}"
        )
    run("-m", "techtonics.synthetic", "--output_dir=stead", "--earthquakes=60", "--noise=40", "--processes=1")
    run(
        "-m",
        "techtonics.convert",
        "--stead_dir=stead",
        "--output_dir=records",
        "--min_shards=2",
        "--processes=1",
    )
    train = ["--records=records", "--model_dir=model", "--epochs=1", "--batch_size=8", "--image_height=16"]
    run("-m", "techtonics.train", *train, "--image_width=16")
    run("-m", "techtonics.predict", "--model=model/export", "--records=records", "--output_dir=predictions")
    assert (tmp_path / "predictions" / "predictions.csv").exists()
    done = run(
        "-m", "techtonics.predict", "--model=model/export", "--waveforms=stead", "--output_dir=p", check=False
    )
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == (
        "error: continuous input needs ObsPy: pip install 'techtonics[waveforms]' (or pip install obspy)"
    )


def _supported_pythons() -> list[str]:
    """The Python versions setup.cfg lists ("3.N"), newest first: what the Makefile chooses among."""
    metadata = configparser.ConfigParser()
    metadata.read(REPO / "setup.cfg")
    lines = metadata["metadata"]["classifiers"].split("\n")
    versions = [line.rsplit(" :: ", 1)[1] for line in lines if re.fullmatch(r".*Python :: 3\.\d+", line)]
    return sorted(versions, key=lambda v: int(v.split(".")[1]), reverse=True)


def _newest_python() -> tuple[str, str]:
    """The newest supported Python on this machine, on PATH or built by pyenv: (path, "3.N")."""
    for version in _supported_pythons():
        pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
        for candidate in filter(None, [shutil.which(f"python{version}"), *sorted(glob.glob(pyenv))]):
            # A pyenv shim of a version that is not enabled fails here.
            if subprocess.run([candidate, "-c", "import venv"], capture_output=True).returncode == 0:
                return candidate, version
    pytest.skip("no supported Python on this machine")


def _make(*arguments: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=path) if path else None
    make = shutil.which("make")  # found on this PATH, not on the one the Makefile gets
    return subprocess.run([make, "-s", *arguments], capture_output=True, text=True, cwd=REPO, env=env)


def test_make_takes_python3_or_else_the_newest_supported_python_or_says_which_to_install(tmp_path):
    assert _supported_pythons()[-1] == "3.10" and len(_supported_pythons()) >= 4
    show = "--eval=show: ; $(info $(PYTHON))"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "sort"):  # what the Makefile runs besides Python
        (bin_dir / tool).symlink_to(shutil.which(tool))
    shim = bin_dir / "python3"  # as a pyenv shim whose version is not enabled: it fails
    shim.write_text("#!/bin/sh\nexit 127\n")
    shim.chmod(0o755)
    assert _make(show, "show", path=str(bin_dir)).stdout.strip() == ""
    (bin_dir / "python3.11").symlink_to(sys.executable)
    (bin_dir / "python3.12").symlink_to(sys.executable)
    assert _make(show, "show", path=str(bin_dir)).stdout.strip() == "python3.12"  # the newest that runs
    shim.unlink()
    shim.symlink_to(sys.executable)
    assert _make(show, "show", path=str(bin_dir)).stdout.strip() == "python3"
    for python, why in (("/bin/false", "/bin/false is not one"), ("", "none is on PATH")):
        done = _make(f"PYTHON={python}", f"VENV={tmp_path / 'venv'}", f"{tmp_path / 'venv'}/.installed")
        assert done.returncode != 0 and done.stderr.splitlines()[0] == (
            f"error: this needs Python 3.10-{_supported_pythons()[0]}: {why}; install one, or name it: "
            f"PYTHON=python3.12 make {tmp_path / 'venv'}/.installed"
        )
        assert not (tmp_path / "venv").exists()


@pytest.mark.slow
def test_make_builds_the_environment_with_the_newest_python_here_and_its_commands_run(tmp_path):
    python, version = _newest_python()
    venv = tmp_path / "venv"
    build = ["make", "-s", f"VENV={venv}", f"PYTHON={python}", f"{venv}/.installed"]
    done = subprocess.run(build, capture_output=True, text=True, cwd=REPO, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    check = "import sys; print('%d.%d' % sys.version_info[:2])"
    done = subprocess.run([venv / "bin" / "python", "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == version
    done = subprocess.run(
        [venv / "bin" / "python", "-m", "techtonics.train", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert "Traceback" not in done.stderr and "--model_dir" in done.stdout, done.stderr[-2000:]
