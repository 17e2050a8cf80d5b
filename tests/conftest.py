"""Shared fixtures: tiny synthetic STEAD files and the real metadata rows."""

import os
import pathlib

import pytest

from techtonics import synthetic

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("TECHTONICS_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def real_metadata_csv() -> pathlib.Path:
    """100 real STEAD metadata rows (earthquakes, no waveforms) from ../shared/data."""
    path = SHARED / "data" / "stead_metadata_100_real.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: clone the project with shared/ beside it or set TECHTONICS_SHARED")
    return path


@pytest.fixture(scope="session")
def tiny_stead(tmp_path_factory) -> pathlib.Path:
    """A synthetic STEAD directory: chunk1 (60 noise) + chunk2 (90 earthquakes)."""
    directory = tmp_path_factory.mktemp("stead")
    synthetic.write_synthetic_stead(str(directory), earthquakes=90, noise=60, seed=7, num_workers=1)
    return directory
