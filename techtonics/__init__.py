"""TECHTONICS: train earthquake-detection CNNs on STEAD at scale.

The package is grouped by stage (core, data, synthetic, conversion, model,
training, prediction, cluster, experiments, bench); its top-level modules are
the commands. Importing the package selects Keras 2 (tf-keras) for every
later `import tensorflow`: MultiWorkerMirroredStrategy and BackupAndRestore's
chief/worker logic work there and not in Keras 3 (docs/known_problems.md).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault(
    "TF_CPP_MIN_LOG_LEVEL", "2"
)  # TensorFlow's C++ INFO/WARNING lines drown progress output

__version__ = "0.2.0"
