"""The package installs as users install it: plain, without extras, and by make with the newest Python."""

import glob
import importlib.util
import os
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


def _newest_python() -> tuple[str, str]:
    """The newest Python that setup.cfg admits on this machine, on PATH or built by pyenv: (path, "3.N")."""
    found = {}
    for minor in (10, 11, 12, 13):
        pyenv = os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")
        candidates = [shutil.which(f"python3.{minor}"), *sorted(glob.glob(pyenv))]
        for candidate in filter(None, candidates):
            works = subprocess.run([candidate, "-c", "import venv"], capture_output=True).returncode == 0
            if works:  # a pyenv shim of a version that is not enabled fails here
                found[minor] = candidate
                break
    newest = max(found)
    return found[newest], f"3.{newest}"


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
