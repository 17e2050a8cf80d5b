"""TECHTONICS: train earthquake-detection CNNs on STEAD at scale.

The package is grouped by stage (core, data, synthetic, conversion, model,
training, prediction, cluster, experiments, bench); its top-level modules are
the commands. Importing the package selects Keras 2 (tf-keras) for every
later `import tensorflow`: MultiWorkerMirroredStrategy and BackupAndRestore's
chief/worker logic work there and not in Keras 3 (docs/known_problems.md).
It also turns on TensorFlow's BFC allocator for CPU memory (read at the first
allocation, so importing TensorFlow first is fine): with the default, glibc's
malloc maps a large tensor's memory anew at every allocation, each step
faulted its pages in again, and the classifier trained at half the rate on
2 CPU cores (docs/BENCHMARKS.md). A variable set beforehand wins.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault(
    "TF_CPP_MIN_LOG_LEVEL", "2"
)  # TensorFlow's C++ INFO/WARNING lines drown progress output
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.2.0"
