"""What every task declares: the `Task` interface (TF Model Garden's Task) and what its outputs are.

training/tasks.py holds the original's tasks and the registry (`tasks.get`),
training/picking.py the picker; every other stage asks a task through this
interface.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.data import stead
from techtonics.data.converted import ConvertedDataset
from techtonics.model import cnn
from techtonics.training import augmentation, figures, metrics


@dataclasses.dataclass(frozen=True)
class Output:
    """What one column of a model's answer is, for the stages that read it (prediction, the pick-benchmark).

    kind: "earthquake_probability" (of the whole input holding an earthquake), "class_probability" (of
    another class), "arrival" (a sample of the input; `phase` P or S), "magnitude", or "value" (in the
    target's units). confidence: the column of an arrival's probability, where the model gives one: a
    detection then reports the arrival of its most confident window rather than the median of all.
    """

    kind: str
    phase: str | None = None
    confidence: str | None = None

    def catalog_entry(self) -> str | None:
        """What a detection's estimate of this output is in a QuakeML catalog: "magnitude", or the phase
        of an arrival ("P", "S"); None: a value the catalog notes as a comment."""
        return "magnitude" if self.kind == "magnitude" else self.phase


class Task(abc.ABC):
    """The interface every problem implements; `name` is what --task says."""

    name: str
    default_dropout: float  # after pooling, when --dropout is not given
    monitor: tuple[str, str]  # (Keras log name, "min" or "max") of the best epoch
    truth_field: str  # the parsed record field evaluation compares predictions with
    output_name: str  # what the export calls its answer
    filters_examples: bool  # keeps only some records of a batch (then batches are re-formed)
    chooses_threshold = False  # evaluate also reads the validation split, to choose a decision threshold
    head = "dense"  # the model's head: the original's dense layers, "arrival" (ArrivalRegression) or "unet"
    phase_probabilities: str | None = None  # the export's per-sample probabilities of P, S, noise, if any

    def __init__(self, target: str):
        self.target = target

    def describe(self) -> str:
        """What the model learns, in a few words for log lines."""
        return self.name

    def defining(self) -> dict:
        """What a resumed model directory must keep of the task."""
        return {"task": self.name, "target": self.target, "head": self.head}

    @abc.abstractmethod
    def example_count(self, converted: ConvertedDataset, split: str) -> int:
        """Examples the task reads from a split of a converted dataset."""

    def normalization(self, converted: ConvertedDataset) -> tuple[float, float]:
        """(mean, std) that labels are scaled by; the export undoes it."""
        return 0.0, 1.0

    def kept_mask(self, features: dict) -> tf.Tensor | None:
        """Which examples of a parsed batch of records the task reads, in graph; None: every one."""
        return None

    @abc.abstractmethod
    def label(self, features: dict, normalization: tuple[float, float]) -> tf.Tensor:
        """Each example's label, in graph: from its truth_field, the task's only field; NaN where unknown."""

    def kept(self, features: dict) -> dict:
        """The examples of a parsed batch of records that the task reads (`kept_mask`), in graph."""
        keep = self.kept_mask(features)
        return features if keep is None else {name: tf.boolean_mask(v, keep) for name, v in features.items()}

    def labels(self, features: dict, normalization: tuple[float, float]) -> tuple[dict, tf.Tensor]:
        """(the batch's kept features, their labels) for a parsed batch of records, in graph."""
        features = self.kept(features)
        return features, self.label(features, normalization)

    @abc.abstractmethod
    def build_model(self, config: cnn.ModelConfig) -> tf_keras.Model:
        """The task's CNN, uncompiled, under the current dtype policy."""

    @abc.abstractmethod
    def build_losses(self) -> tf_keras.losses.Loss:
        """The training loss."""

    @abc.abstractmethod
    def build_metrics(self) -> list:
        """Keras metrics logged every epoch (validation ones prefixed val_)."""

    def export_info(self, normalization: tuple[float, float]) -> dict:
        """What the export records beside the graph (techtonics.json) to answer in the task's terms.

        normalization: the labels' (mean, std) (`normalization`), which the answer undoes.
        """
        return {"task": self.name}

    @abc.abstractmethod
    def serving(self, info: dict):
        """The export's answer: a function of the model's output to {output name: tensor}."""

    def truth(self, metadata: dict) -> np.ndarray:
        """The true values of the examples evaluation read."""
        return metadata[self.truth_field]

    @abc.abstractmethod
    def evaluate(
        self, truth, predicted, metadata: dict, out_dir: str, validation: tuple | None = None
    ) -> tuple[dict, list[str]]:
        """(metrics.json's task metrics, the figures written into out_dir).

        validation: (truth, predicted) of the validation split, for a task
        that chooses_threshold; its metrics then hold `threshold`
        (metrics.decision_threshold), which the export records.
        """

    @abc.abstractmethod
    def position_metrics(self, truth, predicted, task_metrics: dict) -> dict[str, float]:
        """The metrics that evaluation reports against where P sits in the window (evaluation.OFFSETS_S);
        task_metrics: `evaluate`'s on the split as it is (its chosen threshold)."""

    @abc.abstractmethod
    def grid_quota(self) -> dict[int, int]:
        """How many examples of each class the example grid shows."""

    @abc.abstractmethod
    def grid_text(self, truth, predicted) -> tuple[str, str]:
        """(true, predicted) as the example grid titles one example."""

    @abc.abstractmethod
    def summary(self, task_metrics: dict) -> str:
        """One line of the headline metrics of evaluate's metrics.json."""

    @abc.abstractmethod
    def outputs(self, model_name: str) -> dict[str, Output]:
        """The columns of predictions.csv that a model of this task fills, and what each is."""

    @abc.abstractmethod
    def prediction_values(self, model_name: str, answer: dict) -> dict:
        """The export's answer for a batch as {column: tensor}."""

    def prediction_columns(self, model_name: str) -> list[str]:
        """The columns of predictions.csv that a model of this task fills."""
        return list(self.outputs(model_name))

    def detection_column(self, model_name: str) -> str | None:
        """The column whose windows above the threshold are detections; None if the task detects nothing."""
        found = [c for c, o in self.outputs(model_name).items() if o.kind == "earthquake_probability"]
        return found[0] if found else None

    def recommended_flags(self) -> list[str]:
        """The trainer's flags of the recipe that makes this task's model find an earthquake anywhere in
        the window (augmentation.RECOMMENDED and what the task changes of it), as the demo, the
        reproduction and configs/<job>_augmented.flags train it."""
        return options.to_flags(augmentation.RECOMMENDED)

    def class_weights(self, converted: ConvertedDataset, spec: str) -> tuple[float, ...] | None:
        """Each class's weight in the training loss for --class_weight=spec; None: every example weighs 1."""
        if spec != "none":
            raise UserError(f"--class_weight={spec}: {self.describe()} learns no classes to weigh")
        return None


def detection_metrics(
    labels, probabilities, out_dir: str, validation: tuple | None
) -> tuple[dict, list[str]]:
    """A detector's metrics.json metrics and figures: classes from (n, classes) probabilities, and at the
    threshold of best F1 on validation's (labels, probabilities) when given."""
    task_metrics, curves = metrics.classification_metrics(labels, probabilities)
    threshold = metrics.decision_threshold(*validation) if validation else None
    if threshold:
        positive = labels == stead.EARTHQUAKE_CLASS
        task_metrics["threshold"] = threshold
        task_metrics["at_threshold"] = metrics.at_threshold(
            positive, probabilities[:, stead.EARTHQUAKE_CLASS], threshold["value"]
        )
    return task_metrics, figures.classification_figures(curves, out_dir)
