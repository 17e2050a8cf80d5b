"""What every task declares: the `Task` interface (TF Model Garden's Task) and what its outputs are.

A task declares what training needs (which examples and their labels, the
model, its loss and metrics, the monitored metric) and what the model
outputs (`Output`s, by name, with their kind). The stages after training
read only those declarations: evaluation scores each output by its kind
(training/evaluation_kinds.py), export records `export_info` and serves
`serving`, prediction writes the outputs that are columns, the catalog
and the pick-benchmark take what their kinds say. training/tasks.py holds
the original's tasks and the registry (`tasks.get`), training/picking.py
the picker.
"""

from __future__ import annotations

import abc
import dataclasses

import tensorflow as tf
import tf_keras

from techtonics.core import options
from techtonics.core.errors import UserError
from techtonics.data.converted import ConvertedDataset
from techtonics.model import cnn
from techtonics.training import augmentation

# Output.kind: what an output is. Those in ESTIMATES are what a detection reports of its event.
KINDS = (
    "earthquake_probability",  # of the whole input holding an earthquake
    "class_probability",  # of another class
    "arrival",  # a sample of the input; Output.phase P or S
    "magnitude",
    "value",  # in the target's or the output's own units
    "phase_probabilities",  # (samples, [P, S, noise]) at every sample of the input: no column
)
ESTIMATES = ("arrival", "magnitude", "value")


@dataclasses.dataclass(frozen=True)
class Output:
    """One named output of a model: where the export's answer holds it and what it is, for every stage that
    reads answers (evaluation, prediction, the catalog, the pick-benchmark).

    kind: one of KINDS. answer: the export's answer it is read from; column: its column of that answer,
    where the answer has several (None: the whole answer). truth: the record field it estimates, which
    evaluation compares it with (None: nothing to compare). confidence: the output that is this arrival's
    probability, where the model gives one (a pick): a detection then reports the arrival of its most
    confident window rather than the median of all, and evaluation scores it as an onset.
    """

    kind: str
    answer: str
    column: int | None = None
    truth: str | None = None
    phase: str | None = None
    confidence: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"output kind {self.kind!r} is none of {KINDS}")

    @property
    def is_column(self) -> bool:
        """Whether it is one value per input (a column of predictions.csv), not one per sample."""
        return self.kind != "phase_probabilities"

    def read(self, answer: dict):
        """Its values (a tensor or an array) from the export's answer to a batch."""
        values = answer[self.answer]
        return values if self.column is None else values[:, self.column]

    def catalog_entry(self) -> str | None:
        """What a detection's estimate of this output is in a QuakeML catalog: "magnitude", or the phase
        of an arrival ("P", "S"); None: a value the catalog notes as a comment."""
        return "magnitude" if self.kind == "magnitude" else self.phase


class Task(abc.ABC):
    """The interface every problem implements; `name` is what --task says."""

    name: str
    default_dropout: float  # after pooling, when --dropout is not given
    monitor: tuple[str, str]  # (Keras log name, "min" or "max") of the best epoch
    truth_field: str  # the parsed record field the label is made from
    output_name: str  # what the export calls its answer
    filters_examples: bool  # keeps only some records of a batch (then batches are re-formed)
    head = "dense"  # the model's head: the original's dense layers, "arrival" (ArrivalRegression) or "unet"
    reads_image = True  # the model reads the spectrogram image (evaluation shows a grid of them)

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

    @abc.abstractmethod
    def outputs(self) -> dict[str, Output]:
        """What the model outputs, by name (a column of predictions.csv is MODEL.NAME): every other stage
        reads the answers through these (training/evaluation.py, prediction, the pick-benchmark)."""

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
