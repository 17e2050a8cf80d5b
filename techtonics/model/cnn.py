"""The original's CNN (docs/ORIGINAL.md) on raw waveforms: its image, trunk and a task's head.

Both of the original's models share one shape: the spectrogram image (made
by the first layer, from raw (batch, 6000, 3) E/N/Z waveforms), one
convolution, max pooling, dropout, then dense layers. The classifier and the
regressor differ only in filters, hidden widths and the output, which their
task (training/tasks.py) chooses. Layer names are fixed: checkpoints and
exports of every earlier version match them.

`build_arrival` keeps the trunk and replaces the flattening dense head with
one that reads the time axis: a score for every image column, and the
arrival as the softmax-weighted mean of the columns' times. The dense head
sees a whole image at once and learns where STEAD puts P (4-9 s); this head
is the same at every column, so an arrival anywhere in the window is found
as well as one where training saw most (issue 20, docs/POSITION.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import stead
from techtonics.model.dropout import StepDropout
from techtonics.model.spectrogram import SpectrogramConfig, SpectrogramImage


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What defines a model besides its task: its input image and its dropout."""

    image: SpectrogramConfig = options.nested(SpectrogramConfig)
    dropout: float | None = option(
        None, "Dropout after pooling; default: the task's (0.25 for a classifier, 0.5 for a regressor)."
    )

    def __post_init__(self):
        options.check(self)
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout={self.dropout}: must be in [0, 1)")


def _trunk(config: ModelConfig, filters: int, default_dropout: float) -> tuple[tf.Tensor, tf.Tensor]:
    """(the waveform input, the trunk's output): image, convolution, pooling and dropout."""
    layers = tf_keras.layers
    waveform = tf_keras.Input(shape=stead.WAVEFORM_SHAPE, name="waveform")
    x = SpectrogramImage(config.image, name="spectrogram")(waveform)
    x = layers.Conv2D(filters, 5, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    dropout = default_dropout if config.dropout is None else config.dropout
    return waveform, StepDropout(dropout, name="dropout")(x)


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
    waveform, x = _trunk(config, filters, default_dropout)
    x = layers.Flatten(name="flatten")(x)
    for width in hidden:
        x = layers.Dense(width, activation="relu", name=f"dense_{width}")(x)
    output = layers.Dense(outputs, activation=activation, dtype="float32", name=output_name)(x)
    return tf_keras.Model(waveform, output, name=name)


# The arrival head's context: a column's score sees this many pooled columns around it (about 0.8 s
# each at the default image), so that the quiet before an onset and the wave after it are both in view.
CONTEXT_COLUMNS = 15


def column_samples(image: SpectrogramConfig) -> np.ndarray:
    """The waveform sample at the centre of each column of the trunk's output, evenly spaced.

    The 5-wide convolution (no padding) leaves width - 4 columns, each centred on image column c + 2,
    and pooling pairs them: pooled column m is centred on image column 2m + 2.5. The image's columns are
    its STFT frames resized (bilinear, half-pixel centres), and frame f is centred on sample
    f * hop + nfft / 2.
    """
    frames = 1 + (stead.TRACE_SAMPLES - image.nfft) // image.hop
    image_column = 2 * np.arange((image.width - 4) // 2) + 2.5
    frame = (image_column + 0.5) * frames / image.width - 0.5
    return frame * image.hop + image.nfft / 2


def build_arrival(
    config: ModelConfig, *, filters: int, default_dropout: float, width: int, output_name: str, name: str
) -> tf_keras.Model:
    """The trunk with the arrival head, uncompiled: the probability that the arrival is at each column of
    the trunk's output (column_samples), (batch, columns), in float32.

    Each column's features (every frequency row and filter) go through a dense layer of `width`, then
    a convolution along time over CONTEXT_COLUMNS, then to one score; a softmax over the columns makes
    the scores a distribution.
    """
    layers = tf_keras.layers
    waveform, x = _trunk(config, filters, default_dropout)
    rows, columns = x.shape[1], x.shape[2]
    x = layers.Permute((2, 1, 3), name="columns_first")(x)
    x = layers.Reshape((columns, rows * filters), name="column_features")(x)
    x = layers.Dense(width, activation="relu", name=f"column_dense_{width}")(x)
    x = layers.Conv1D(width, CONTEXT_COLUMNS, padding="same", activation="relu", name="time_context")(x)
    x = layers.Dense(1, dtype="float32", name="column_scores")(x)
    x = layers.Reshape((columns,), dtype="float32", name="scores")(x)
    output = layers.Softmax(axis=-1, dtype="float32", name=output_name)(x)
    return tf_keras.Model(waveform, output, name=name)
