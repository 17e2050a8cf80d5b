"""Shared fixtures: tiny synthetic STEAD files, their TFRecords, and the real metadata rows.

The CPU is split into two logical devices before TensorFlow starts, so
MirroredStrategy has two replicas to mirror across in tests.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from techtonics.conversion import converter, plan
from techtonics.data import splits, stead
from techtonics.synthetic import generator

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("TECHTONICS_SHARED", REPO.parent / "shared"))

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)


@pytest.fixture(autouse=True)
def _ops_nondeterministic_again():
    """A --deterministic run in this process turns on TensorFlow's process-wide op determinism (a
    command runs one job); the next test's XLA training, which has no deterministic max-pool gradient,
    must not inherit it. TensorFlow's switch back is not public."""
    yield
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()


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
    generator.write_synthetic_stead(str(directory), earthquakes=90, noise=60, seed=7, processes=1)
    return directory


@pytest.fixture(scope="session")
def tiny_records(tiny_stead, tmp_path_factory) -> pathlib.Path:
    """tiny_stead as TFRecords: 60/20/20 split by class, 4 shards per split."""
    directory = tmp_path_factory.mktemp("records")
    config = plan.ConvertConfig(
        pairs=tuple(stead.find_pairs(str(tiny_stead))),
        output_dir=str(directory),
        split=splits.SplitConfig(validation_fraction=0.2, test_fraction=0.2, seed=1),
        min_shards=4,
        processes=1,
    )
    converter.convert(config, progress=False)
    return directory


_RELOAD = """
import json, sys
sys.modules["techtonics"] = None  # the export must not need this package
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
waveform = tf.constant(np.load(sys.argv[2]))
outputs = {k: v.numpy().tolist() for k, v in loaded.signatures["serving_default"](waveform=waveform).items()}
shape = None
if "spectrogram" in loaded.signatures:
    shape = loaded.signatures["spectrogram"](waveform=waveform)["image"].shape.as_list()
print(json.dumps({"outputs": outputs, "image_shape": shape}))
"""


def reload_export(export_dir: pathlib.Path, waveforms: np.ndarray, tmp_path: pathlib.Path) -> dict:
    """An export loaded in a fresh process without this package, and applied to waveforms:
    {"outputs": {name: values}, "image_shape": its spectrogram signature's shape, None without one}."""
    np.save(tmp_path / "waveforms.npy", waveforms)
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(export_dir), str(tmp_path / "waveforms.npy")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
