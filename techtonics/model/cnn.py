"""The original's CNN (docs/ORIGINAL.md) on raw waveforms: its image, trunk and a task's head.

Both of the original's models share one shape: the spectrogram image (made
by the first layer, from raw (batch, 6000, 3) E/N/Z waveforms), one
convolution, max pooling, dropout, then dense layers. The classifier and the
regressor differ only in filters, hidden widths and the output, which their
task (training/tasks.py) chooses. Layer names are fixed: checkpoints and
exports of every earlier version match them.
"""

from __future__ import annotations

import dataclasses

import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead
from techtonics.model.spectrogram import SpectrogramConfig, SpectrogramImage


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What defines a model besides its task: its input image and its dropout."""

    image: SpectrogramConfig = options.nested(SpectrogramConfig)
    dropout: float | None = option(
        None, "Dropout after pooling; default: the task's (0.25 for a classifier, 0.5 for a regressor)."
    )

    def __post_init__(self):
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout={self.dropout}: must be in [0, 1)")


def build(
    config: ModelConfig,
    *,
    filters: int,
    default_dropout: float,
    hidden: tuple[int, ...],
    outputs: int,
    activation: str | None,
    output_name: str,
    name: str,
) -> tf_keras.Model:
    """The CNN, uncompiled, under the current dtype policy.

    filters: of the convolution; default_dropout: where config.dropout is
    None; hidden: widths of the ReLU dense layers; outputs, activation and
    output_name: the last layer's, which always computes in float32 (mixed
    precision keeps the answer exact).
    """
    layers = tf_keras.layers
    waveform = tf_keras.Input(shape=stead.WAVEFORM_SHAPE, name="waveform")
    x = SpectrogramImage(config.image, name="spectrogram")(waveform)
    x = layers.Conv2D(filters, 5, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(default_dropout if config.dropout is None else config.dropout, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for width in hidden:
        x = layers.Dense(width, activation="relu", name=f"dense_{width}")(x)
    output = layers.Dense(outputs, activation=activation, dtype="float32", name=output_name)(x)
    return tf_keras.Model(waveform, output, name=name)
