"""The package works installed (not editable): nothing in it reaches outside it (configs/, tools/)."""

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
