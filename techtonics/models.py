"""The two CNNs of the original (docs/ORIGINAL.md), on raw waveforms, and their export.

Both models take raw (batch, 6000, 3) E/N/Z waveforms; their first layer makes
the spectrogram image. The classifier ends in two softmax probabilities
(stead.CLASS_NAMES); the regressor in one linear output, the target
normalised with the training split's mean and standard deviation. The
exported SavedModel undoes the normalisation, so it answers in the target's
own units and loads with plain TensorFlow, without this package.
"""

from __future__ import annotations

import dataclasses
import json

import tensorflow as tf
import tf_keras

from techtonics import fileio, options, stead
from techtonics.errors import UserError
from techtonics.options import option
from techtonics.spectrogram import SpectrogramConfig, SpectrogramImage

DEFAULT_DROPOUT = {"classification": 0.25, "regression": 0.5}
EXPORT_INFO = "techtonics.json"
# 2: techtonics.json names its version and the input channels its image uses.
EXPORT_VERSION = 2


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What defines a model: its task (TrainConfig sets it), its input image, its dropout."""

    task: str = "classification"  # stead.TASKS
    image: SpectrogramConfig = options.nested(SpectrogramConfig)
    dropout: float | None = option(
        None, "Dropout after pooling; default 0.25 (classification) or 0.5 (regression)."
    )

    def __post_init__(self):
        if self.task not in stead.TASKS:
            raise UserError(f"unknown task {self.task!r}; use one of {', '.join(stead.TASKS)}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout={self.dropout}: must be in [0, 1)")

    @property
    def dropout_rate(self) -> float:
        """The dropout after the pooling layer."""
        return DEFAULT_DROPOUT[self.task] if self.dropout is None else self.dropout


def build_model(config: ModelConfig) -> tf_keras.Model:
    """The classification or regression CNN, uncompiled, under the current dtype policy."""
    layers = tf_keras.layers
    waveform = tf_keras.Input(shape=stead.WAVEFORM_SHAPE, name="waveform")
    x = SpectrogramImage(config.image, name="spectrogram")(waveform)
    filters = 32 if config.task == "classification" else 64
    x = layers.Conv2D(filters, 5, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(config.dropout_rate, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    if config.task == "classification":
        x = layers.Dense(64, activation="relu", name="dense_64")(x)
        x = layers.Dense(16, activation="relu", name="dense_16")(x)
        output = layers.Dense(
            len(stead.CLASS_NAMES), activation="softmax", dtype="float32", name="probabilities"
        )(x)
    else:
        x = layers.Dense(16, activation="relu", name="dense_16")(x)
        output = layers.Dense(1, dtype="float32", name="normalized_target")(x)
    return tf_keras.Model(waveform, output, name=f"techtonics_{config.task}")


class _Exported(tf.Module):
    """The serving functions: waveforms to the answer, and to the model's input image."""

    def __init__(self, model: tf_keras.Model, output_name: str, mean: float, std: float):
        super().__init__()
        self.model = model
        self._output_name, self._mean, self._std = output_name, mean, std
        self._image = model.get_layer("spectrogram")
        spec = tf.TensorSpec([None, *stead.WAVEFORM_SHAPE], tf.float32, name="waveform")
        self.serve = tf.function(self._serve, input_signature=[spec])
        self.spectrogram = tf.function(self._spectrogram, input_signature=[spec])

    def _serve(self, waveform):
        output = self.model(waveform, training=False)
        if self._output_name != "probabilities":
            output = output[:, 0] * self._std + self._mean
        return {self._output_name: output}

    def _spectrogram(self, waveform):
        return {"image": self._image(waveform)}


def export_model(model: tf_keras.Model, path: str, info: dict) -> None:
    """Writes a SavedModel at `path` (atomically) that maps raw waveforms to the answer.

    `info` holds `task` and `image_channels`, and for regression `target`,
    `mean` and `std`; it is written beside the graph as `techtonics.json`
    with the export version. Signatures:
    `serving_default` (waveform -> `probabilities` (batch, 2), or the target
    by name (batch,) in its own units) and `spectrogram` (waveform -> `image`).
    """
    info = {**info, "export_version": EXPORT_VERSION}
    if info["task"] == "classification":
        module = _Exported(model, "probabilities", 0.0, 1.0)
        info = {**info, "class_names": list(stead.CLASS_NAMES)}
    else:
        module = _Exported(model, info["target"], info["mean"], info["std"])
        info = {**info, "units": stead.REGRESSION_TARGETS[info["target"]]}
    tmp = fileio.temporary_path(path)
    try:
        tf.saved_model.save(
            module, tmp, signatures={"serving_default": module.serve, "spectrogram": module.spectrogram}
        )
        fileio.write_atomic(fileio.join(tmp, EXPORT_INFO), json.dumps(info, indent=2, sort_keys=True) + "\n")
        fileio.rmtree(path)
        fileio.rename(tmp, path)
    finally:
        fileio.rmtree(tmp)


def load_exported(path: str):
    """(loaded SavedModel, info) of an exported model; call `loaded.serve(waveform)` on waveforms.

    Refuses, in one line, a directory that holds no TECHTONICS export or one
    of another export version.
    """
    info_path = fileio.join(path, EXPORT_INFO)
    if not fileio.exists(info_path):
        raise UserError(
            f"{path}: not a TECHTONICS export (no {EXPORT_INFO}); give a model directory's export/"
        )
    with fileio.open_file(info_path, "rb") as f:
        info = json.loads(f.read())
    version = info.get("export_version", 1)
    if version != EXPORT_VERSION:
        raise UserError(
            f"{path}: exported by another version of TECHTONICS (export version {version}, this one reads "
            f"{EXPORT_VERSION}); run its training command again to export it anew"
        )
    return tf.saved_model.load(path), info
