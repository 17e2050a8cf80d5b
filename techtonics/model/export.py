"""The exported model: a SavedModel that maps raw waveforms to the answer, loadable without this package.

An export holds the trained CNN behind two serving functions and, beside the
graph, `techtonics.json`: the task's description of the answer (training/
tasks.py `export_info`: the task, and for a regressor its target, units and
the normalisation the answer undoes), the input channels its image uses and
the export version. Exports of version 2 written by any earlier release load.
Evaluation adds the decision threshold it chose on the validation split
(`threshold`, record_threshold), which `predict --threshold=auto` uses; an
export without one is still complete.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import tensorflow as tf
import tf_keras

from techtonics.core import fileio
from techtonics.core.errors import UserError
from techtonics.data import stead

EXPORT_INFO = "techtonics.json"
# 2: techtonics.json names its version and the input channels its image uses.
EXPORT_VERSION = 2
THRESHOLD = "threshold"  # techtonics.json's decision threshold: {"value": probability, how it was chosen}
_DATA_SHARD = re.compile(r"variables\.data-(\d{5})-of-(\d{5})")  # a shard of the SavedModel's weights


class ExportedModel(tf.Module):
    """The serving functions: `serve` (waveform -> the answer by name) and, for a model of the original's
    image, `spectrogram` (-> `image`).

    The same object serves in memory (the trainer evaluates it right after
    exporting) and, restored by tf.saved_model.load, from disk.
    """

    def __init__(self, model: tf_keras.Model, answer: Callable[[tf.Tensor], dict]):
        super().__init__()
        self.model = model
        self._answer = answer
        spec = tf.TensorSpec([None, *stead.WAVEFORM_SHAPE], tf.float32, name="waveform")
        self.serve = tf.function(self._serve, input_signature=[spec])
        # A model that reads the waveform itself (the picker) has no image to show.
        names = {layer.name for layer in model.layers}
        self._image = model.get_layer("spectrogram") if "spectrogram" in names else None
        if self._image is not None:
            self.spectrogram = tf.function(self._spectrogram, input_signature=[spec])

    def serving_signatures(self) -> dict:
        """The SavedModel's signatures: `serving_default`, and `spectrogram` where the model has an image."""
        found = {"serving_default": self.serve}
        if self._image is not None:
            found["spectrogram"] = self.spectrogram
        return found

    def _serve(self, waveform):
        return self._answer(self.model(waveform, training=False))

    def _spectrogram(self, waveform):
        return {"image": self._image(waveform)}


def export_model(
    model: tf_keras.Model, path: str, info: dict, answer: Callable[[tf.Tensor], dict]
) -> ExportedModel:
    """Writes the SavedModel at `path` (atomically) and returns it, ready to serve.

    info: written as techtonics.json with the export version; answer: the
    task's map of the model's output to {name: tensor} (tasks.Task.serving).
    Signatures: ExportedModel.serving_signatures.
    """
    info = {**info, "export_version": EXPORT_VERSION}
    module = ExportedModel(model, answer)
    tmp = fileio.temporary_path(path)
    try:
        tf.saved_model.save(module, tmp, signatures=module.serving_signatures())
        fileio.write_atomic(fileio.join(tmp, EXPORT_INFO), json.dumps(info, indent=2, sort_keys=True) + "\n")
        fileio.rmtree(path)
        fileio.rename(tmp, path)
    finally:
        fileio.rmtree(tmp)
    return module


def read_info(path: str) -> dict:
    """The techtonics.json of the export at path."""
    with fileio.open_file(fileio.join(path, EXPORT_INFO), "rb") as f:
        return json.loads(f.read())


def record_threshold(path: str, threshold: dict) -> None:
    """Adds the decision threshold evaluation chose ({"value": earthquake probability, ...}) to the
    techtonics.json of the export at path, atomically."""
    info = {**read_info(path), THRESHOLD: threshold}
    fileio.write_atomic(fileio.join(path, EXPORT_INFO), json.dumps(info, indent=2, sort_keys=True) + "\n")


def recorded_threshold(info: dict) -> float | None:
    """The decision threshold an export's techtonics.json records; None where evaluation chose none."""
    return info[THRESHOLD]["value"] if THRESHOLD in info else None


def checked_info(path: str) -> dict:
    """The techtonics.json of the export at path, without loading its graph.

    Refuses, in one line, a directory that holds no TECHTONICS export or one
    of another export version.
    """
    info_path = fileio.join(path, EXPORT_INFO)
    if not fileio.exists(info_path):
        raise UserError(
            f"{path}: not a TECHTONICS export (no {EXPORT_INFO}); give a model directory's export/"
        )
    try:
        info = read_info(path)
    except ValueError as e:  # not JSON
        raise UserError(f"{info_path}: damaged ({e}); export the model again") from None
    version = info.get("export_version", 1)
    if version != EXPORT_VERSION:
        raise UserError(
            f"{path}: exported by another version of TECHTONICS (export version {version}, this one reads "
            f"{EXPORT_VERSION}); run its training command again to export it anew"
        )
    return info


def _missing_files(path: str) -> list[str]:
    """The files a SavedModel needs that the export at path lacks, relative to it: the graph, the
    variables' index and every shard of their data (`variables.data-00000-of-00001`)."""
    variables = fileio.join(path, "variables")
    names = fileio.listdir(variables) if fileio.isdir(variables) else []
    missing = [] if fileio.exists(fileio.join(path, "saved_model.pb")) else ["saved_model.pb"]
    missing += [] if "variables.index" in names else ["variables/variables.index"]
    shards = {int(m[2]) for n in names if (m := _DATA_SHARD.fullmatch(n))}
    if not shards:
        return [*missing, "variables/variables.data-*"]
    wanted = [f"variables.data-{i:05d}-of-{count:05d}" for count in sorted(shards) for i in range(count)]
    return missing + [f"variables/{n}" for n in wanted if n not in names]


def load_exported(path: str):
    """(loaded SavedModel, info) of an exported model (checked_info's refusals first); call
    `loaded.serve(waveform)` on waveforms.

    A damaged export is one line naming it and what is missing or short.
    """
    info = checked_info(path)
    again = "export the model again"
    missing = _missing_files(path)
    if missing:
        raise UserError(f"{path}: a damaged export: {', '.join(missing)} missing; {again}")
    try:
        return tf.saved_model.load(path), info
    except IndexError:  # TensorFlow's checkpoint reader met the end of a data file before the index's end
        data = [n for n in fileio.listdir(fileio.join(path, "variables")) if _DATA_SHARD.fullmatch(n)]
        short = ", ".join(
            f"variables/{n} ({fileio.size(fileio.join(path, 'variables', n)):,} bytes)" for n in data
        )
        raise UserError(
            f"{path}: a damaged export: {short} shorter than variables/variables.index says; {again}"
        ) from None
    except (OSError, tf.errors.OpError) as e:  # a corrupt graph or index
        first = str(getattr(e, "message", e)).splitlines()[0]
        raise UserError(f"{path}: a damaged export ({first}); {again}") from None
