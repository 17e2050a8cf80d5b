"""What a model learns, one object per problem: nothing outside the tasks branches on the task.

A `Task` (task_base.py) declares what differs between problems (TF Model
Garden's Task): which examples it reads and their label, its model (the
original's CNN with the task's head), loss and metrics, the metric that
picks the best epoch, what its export answers and what each of its outputs
is (task_base.Output). Evaluation, prediction, the catalog and the
pick-benchmark read those outputs by their kind.

    task = tasks.get("regression", target="source_magnitude")
    model = task.build_model(model_config)

The original's classifier and regressors are here; the picker is
training/picking.py. Adding a problem is a module like it, its entry in
TASKS and a config; `--task` offers every name in TASKS.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.model import cnn, spectrogram
from techtonics.model.spectrogram import SpectrogramConfig
from techtonics.training import augmentation
from techtonics.training.picking import Picking
from techtonics.training.task_base import Output, Task


def parse_class_weight(spec: str) -> tuple[float, ...] | None:
    """--class_weight's explicit weights (one per class, in stead.CLASS_NAMES' order); None for none or
    balanced; a one-line error for anything else."""
    if spec in ("none", "balanced"):
        return None
    try:
        weights = tuple(float(w) for w in spec.split(","))
    except ValueError:
        weights = ()
    if len(weights) != len(stead.CLASS_NAMES) or not all(w > 0 for w in weights):
        raise UserError(
            f"--class_weight={spec}: give none, balanced, or {len(stead.CLASS_NAMES)} positive weights "
            f"({','.join(stead.CLASS_NAMES)}), such as 1,0.4"
        )
    return weights


class Classification(Task):
    """Earthquake or noise: softmax probabilities of stead.CLASS_NAMES over every trace."""

    name = "classification"
    default_dropout = 0.25
    monitor = ("val_accuracy", "max")
    truth_field = "label"
    output_name = "probabilities"
    filters_examples = False

    def recommended_flags(self):
        return [*super().recommended_flags(), f"--class_weight={augmentation.RECOMMENDED_CLASS_WEIGHT}"]

    def class_weights(self, converted, spec):
        # balanced: n / (classes x n_c), so that every class adds the same to an epoch's loss.
        if spec == "none":
            return None
        if spec != "balanced":
            return parse_class_weight(spec)
        counts = [converted.class_counts("train")[name] for name in stead.CLASS_NAMES]
        if not all(counts):
            raise UserError(
                f"--class_weight=balanced: {converted.path}'s train split lacks a class ({counts})"
            )
        return tuple(sum(counts) / (len(counts) * n) for n in counts)

    def example_count(self, converted, split):
        return converted.count(split)

    def label(self, features, normalization):
        return features["label"]

    def build_model(self, config):
        return cnn.build(
            config,
            filters=32,
            default_dropout=self.default_dropout,
            hidden=(64, 16),
            outputs=len(stead.CLASS_NAMES),
            activation="softmax",
            output_name=self.output_name,
            name="techtonics_classification",
        )

    def build_losses(self):
        return tf_keras.losses.SparseCategoricalCrossentropy()

    def build_metrics(self):
        return ["accuracy"]

    def export_info(self, normalization):
        return {"task": self.name, "class_names": list(stead.CLASS_NAMES)}

    def serving(self, info):
        return lambda output: {self.output_name: output}

    def outputs(self):
        return {
            f"p_{c}": Output("earthquake_probability", self.output_name, i, truth="label")
            if i == stead.EARTHQUAKE_CLASS
            else Output("class_probability", self.output_name, i)
            for i, c in enumerate(stead.CLASS_NAMES)
        }


# The targets whose estimate is an arrival, and of which phase (Regression.outputs).
ARRIVAL_PHASES = {"p_arrival_sample": "P", "s_arrival_sample": "S"}


class Regression(Task):
    """One characteristic of the earthquake (stead.REGRESSION_TARGETS), from earthquakes that have it."""

    name = "regression"
    default_dropout = 0.5
    monitor = ("val_loss", "min")
    filters_examples = True

    @property
    def truth_field(self) -> str:
        return self.target

    @property
    def output_name(self) -> str:
        return self.target

    @property
    def units(self) -> str:
        return stead.REGRESSION_TARGETS[self.target]

    def describe(self):
        return f"regression of {self.target}"

    def recommended_flags(self):
        if stead.REGRESSION_TARGETS[self.target] == "samples":  # the arrival moves: the head must follow it
            return [*super().recommended_flags(), "--head=arrival"]
        if self.target != "source_magnitude":
            return super().recommended_flags()
        # A magnitude is read from the amplitude: a 0.1-10x gain moves it by up to a magnitude unit, and
        # the original's image clips it (spectrogram.MAGNITUDE_IMAGE says why and what it measured).
        no_gain = dataclasses.replace(augmentation.RECOMMENDED, gain=0.0)
        return [*options.to_flags(no_gain), *options.to_flags(spectrogram.MAGNITUDE_IMAGE)]

    def example_count(self, converted, split):
        return converted.target_count(split, self.target)

    def normalization(self, converted):
        return converted.normalization(self.target)

    def kept_mask(self, features):
        return tf.logical_and(
            tf.equal(features["label"], stead.EARTHQUAKE_CLASS), tf.math.is_finite(features[self.target])
        )

    def label(self, features, normalization):
        mean, std = normalization
        return (features[self.target][:, tf.newaxis] - mean) / std

    def build_model(self, config):
        return cnn.build(
            config,
            filters=64,
            default_dropout=self.default_dropout,
            hidden=(16,),
            outputs=1,
            activation=None,
            output_name="normalized_target",
            name="techtonics_regression",
        )

    def build_losses(self):
        return tf_keras.losses.MeanSquaredError()

    def build_metrics(self):
        return [tf_keras.metrics.MeanAbsoluteError("mae"), tf_keras.metrics.RootMeanSquaredError("rmse")]

    def export_info(self, normalization):
        mean, std = normalization
        return {"task": self.name, "target": self.target, "mean": mean, "std": std, "units": self.units}

    def serving(self, info):
        mean, std = info["mean"], info["std"]
        return lambda output: {self.output_name: output[:, 0] * std + mean}

    def outputs(self):
        phase = ARRIVAL_PHASES.get(self.target)
        kind = "arrival" if phase else "magnitude" if self.target == "source_magnitude" else "value"
        return {self.target: Output(kind, self.output_name, truth=self.target, phase=phase)}


# The width, in columns of the arrival head's output, of the Gaussian that an arrival's label is spread
# over (about 0.8 s at the default image).
ARRIVAL_SIGMA_COLUMNS = 1.0
# The arrival answered is the probability-weighted mean of the columns this near the most likely one:
# the mean over all columns would be pulled towards the window's middle by the far tail.
PEAK_COLUMNS = 3


def _expected_column(probabilities: tf.Tensor) -> tf.Tensor:
    """(batch, columns) probabilities -> (batch, 1) column of the arrival: the mean around the peak."""
    columns = tf.range(tf.shape(probabilities)[-1], dtype=probabilities.dtype)
    peak = tf.cast(tf.argmax(probabilities, axis=-1), probabilities.dtype)
    near = tf.cast(tf.abs(columns - peak[:, tf.newaxis]) <= PEAK_COLUMNS, probabilities.dtype) * probabilities
    return tf.reduce_sum(near * columns, axis=-1, keepdims=True) / tf.reduce_sum(near, axis=-1, keepdims=True)


class ArrivalCrossEntropy(tf_keras.losses.Loss):
    """Cross-entropy between the head's distribution over columns and the label's: a Gaussian of
    ARRIVAL_SIGMA_COLUMNS around the true column, as PhaseNet trains its picks. A mean squared error of the
    expected column cannot make a spread distribution sharp, and its picks stay seconds wide."""

    def call(self, y_true, y_pred):
        columns = tf.range(tf.shape(y_pred)[-1], dtype=y_pred.dtype)
        # The Gaussian as a softmax: normalised without underflow, however far outside the columns a label is.
        target = tf.nn.softmax(
            -0.5 * tf.square((columns - tf.cast(y_true, y_pred.dtype)) / ARRIVAL_SIGMA_COLUMNS)
        )
        return -tf.reduce_sum(target * tf.math.log(tf.maximum(y_pred, 1e-7)), axis=-1)


class _OfAnsweredColumn:
    """Makes a Keras metric score the answered column (_expected_column) instead of the distribution."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, _expected_column(y_pred), sample_weight)


class _ColumnMAE(_OfAnsweredColumn, tf_keras.metrics.MeanAbsoluteError):
    """Mean absolute error of the answered column."""


class _ColumnRMSE(_OfAnsweredColumn, tf_keras.metrics.RootMeanSquaredError):
    """Root mean squared error of the answered column."""


class ArrivalRegression(Regression):
    """An arrival (a target in samples) anywhere in the window, as training's shift moves it: the model says
    how likely the arrival is at each column of its image (cnn.build_arrival) and answers the expected one.

    Labels are the arrival in columns of the head's output (normalization maps samples to columns), so
    the loss and the logged mae and rmse are in columns (about 0.8 s each at the default image).
    """

    head = "arrival"

    def __init__(self, target: str, image: SpectrogramConfig | None = None):
        super().__init__(target)
        self.image = image or SpectrogramConfig()
        self.columns = cnn.column_samples(self.image)  # the waveform sample of each output column
        if len(self.columns) < 2:
            width = self.image.width
            raise UserError(f"--image_width={width}: the arrival head needs 8 or more (2 after pooling)")

    def describe(self):
        return f"regression of {self.target} anywhere in the window"

    def normalization(self, converted):
        return float(self.columns[0]), float(self.columns[1] - self.columns[0])

    def build_model(self, config):
        if config.image != self.image:  # labels are in this image's columns
            raise ValueError(f"the task was made for image {self.image}, the model asks for {config.image}")
        return cnn.build_arrival(
            config,
            filters=64,
            default_dropout=self.default_dropout,
            width=32,
            output_name="column_probabilities",
            name="techtonics_arrival",
        )

    def build_losses(self):
        return ArrivalCrossEntropy()

    def build_metrics(self):
        return [_ColumnMAE("mae"), _ColumnRMSE("rmse")]

    def serving(self, info):
        mean, std = info["mean"], info["std"]
        return lambda output: {self.output_name: _expected_column(output)[:, 0] * std + mean}


TASKS = {task.name: task for task in (Classification, Regression, Picking)}


# --head: auto (the task's own) or one of the heads the tasks have; arrival is chosen, never implied.
HEADS = ("auto", *dict.fromkeys(t.head for t in (Classification, Regression, ArrivalRegression, Picking)))


def get(
    name: str,
    target: str = "source_magnitude",
    head: str = "auto",
    image: SpectrogramConfig | None = None,
) -> Task:
    """The task called `name` (one of TASKS), learning `target` where it has one, with the model's head.

    head: "auto", the task's own (the original's dense layers; the picker's U-Net), or the one named;
    "arrival" makes a regression of an arrival read the image's time axis (ArrivalRegression, whose
    columns follow `image`, by default the original's), as an arrival anywhere in the window needs.
    Any other head than the task's is refused in one line.
    """
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; use one of {', '.join(TASKS)}")
    task = TASKS[name]
    if head == "arrival":
        if task is not Regression or stead.REGRESSION_TARGETS.get(target) != "samples":
            arrivals = [t for t, unit in stead.REGRESSION_TARGETS.items() if unit == "samples"]
            raise UserError(f"--head=arrival: for a regression of {' or '.join(arrivals)}")
        return ArrivalRegression(target, image=image)
    made = task(target)
    if head not in ("auto", made.head):
        raise UserError(f"--head={head}: a {made.describe()} has the {made.head} head")
    return made


def from_info(info: dict) -> Task:
    """The task an export or metrics.json was made by (an export before the head was recorded: its
    task's own)."""
    return get(info["task"], info.get("target", "source_magnitude"), info.get("head", "auto"))
