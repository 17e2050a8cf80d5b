"""An exported model without training: what tests and the prediction benchmark need when only speed,
shapes and the export's layout matter, not accuracy."""

from __future__ import annotations

import tf_keras

from techtonics.model import cnn, export
from techtonics.model.spectrogram import SpectrogramConfig
from techtonics.training import tasks


def export_untrained(
    path: str, task: str, seed: int = 0, channels: str = "ENZ", target: str = "source_magnitude"
) -> str:
    """An untrained model exported at path as the trainer exports: right in every way but accuracy.

    task, channels (the image's) and target (regression) as in training; seed:
    of the initial weights.
    """
    tf_keras.utils.set_random_seed(seed)
    problem = tasks.get(task, target)
    model = problem.build_model(cnn.ModelConfig(SpectrogramConfig(channels=channels)))
    info = {**problem.export_info((2.0, 0.5)), "image_channels": channels}
    export.export_model(model, path, info, problem.serving(info))
    return path
