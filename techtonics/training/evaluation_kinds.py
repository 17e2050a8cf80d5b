"""What evaluation computes of each kind of output a task declares (task_base.Output): metrics, figures,
the metrics against where P sits, the example grid's titles and the one-line summary.

- `Detection`: an earthquake probability against the record's label: the
  classifier's metrics (accuracy, precision, recall, F1, ROC and PR AUC),
  and those at the decision threshold of best F1 on the validation split,
  which the export records for `predict --threshold=auto`.
- `Estimate`: an estimate that is no pick (a magnitude, an arrival or a
  value of the regressors) against its truth field: RMSE, MAE, R^2 and the
  regression figures, in the target's units.
- `Onsets`: picks (arrivals with a probability) of earthquakes against the
  record's arrivals, in seconds: the field's onset residuals (mean, RMSE,
  MAE) and the share within GOOD_PICK_S.

A task is evaluated by every kind its outputs have (`of`); their metrics
share metrics.json, so a task has at most one output of each kind. A new
task whose outputs have these kinds needs nothing here.
"""

from __future__ import annotations

import abc

import numpy as np

from techtonics.data import stead
from techtonics.training import figures, metrics
from techtonics.training.task_base import ESTIMATES, Output, Task

GRID_EXAMPLES = 16  # examples shown in the example grid
GOOD_PICK_S = 0.1  # the field's "good pick": within this of the analyst's


class Kind(abc.ABC):
    """What evaluation computes of one kind of output. values: each declared output's values over a
    split's examples, by output name; metadata: the examples' record fields, in the same order."""

    chooses_threshold = False  # reads the validation split too, to choose a decision threshold

    @abc.abstractmethod
    def metrics(
        self, values: dict, metadata: dict, out_dir: str, validation: tuple[dict, dict] | None
    ) -> tuple[dict, list[str]]:
        """(its metrics.json metrics, the figures written into out_dir); validation: (values, metadata)
        of the validation split, where it chooses_threshold."""

    @abc.abstractmethod
    def position_metrics(self, values: dict, metadata: dict, task_metrics: dict) -> dict[str, float]:
        """What evaluation reports against where P sits (evaluation.OFFSETS_S); task_metrics: those of the
        split as it is (the chosen threshold)."""

    def grid_quota(self) -> dict[int, int]:
        """How many examples of each class the example grid shows."""
        return {}

    def grid_text(self, values: dict, metadata: dict, i: int) -> tuple[str, str]:
        """(true, predicted) as the example grid titles example i."""
        raise NotImplementedError(f"{type(self).__name__} shows no examples")

    @abc.abstractmethod
    def summary(self, task_metrics: dict) -> str:
        """Its headline metrics in one line, from metrics.json."""


def _threshold(task_metrics: dict) -> float:
    """The decision threshold chosen on validation, or 0.5 where none was."""
    return task_metrics["threshold"]["value"] if "threshold" in task_metrics else 0.5


class Detection(Kind):
    """An earthquake probability of the whole input, against the record's label."""

    chooses_threshold = True

    def __init__(self, name: str, output: Output):
        self.name, self.truth = name, output.truth

    def _probabilities(self, values: dict) -> np.ndarray:
        """(n, classes) probabilities in stead.CLASS_NAMES' order from the earthquake's."""
        earthquake = values[self.name].astype(np.float64)
        return np.stack(
            [earthquake if c == stead.EARTHQUAKE_CLASS else 1.0 - earthquake for c in range(2)], axis=1
        )

    def metrics(self, values, metadata, out_dir, validation):
        labels = metadata[self.truth]
        task_metrics, curves = metrics.classification_metrics(labels, self._probabilities(values))
        chosen = validation and metrics.decision_threshold(
            validation[1][self.truth], self._probabilities(validation[0])
        )
        if chosen:
            task_metrics["threshold"] = chosen
            task_metrics["at_threshold"] = metrics.at_threshold(
                labels == stead.EARTHQUAKE_CLASS, values[self.name], chosen["value"]
            )
        return task_metrics, figures.classification_figures(curves, out_dir)

    def position_metrics(self, values, metadata, task_metrics):
        # Only earthquakes have a P to place; noise is what it was. Recall at the threshold that predict
        # detects at (--threshold=auto).
        p_earthquake = values[self.name][metadata[self.truth] == stead.EARTHQUAKE_CLASS]
        return {
            "recall": float(np.mean(p_earthquake >= _threshold(task_metrics))),
            "mean_p_earthquake": float(p_earthquake.mean()),
        }

    def grid_quota(self):
        classes = len(stead.CLASS_NAMES)
        return {c: GRID_EXAMPLES // classes for c in range(classes)}

    def grid_text(self, values, metadata, i):
        probability = self._probabilities({self.name: values[self.name][i : i + 1]})[0]
        guess = probability.argmax()
        return stead.CLASS_NAMES[
            metadata[self.truth][i]
        ], f"{stead.CLASS_NAMES[guess]} {probability[guess]:.2f}"

    def summary(self, task_metrics):
        names = ("accuracy", "precision", "recall", "f1", "roc_auc")
        line = ", ".join(f"{n} {task_metrics[n]:.3f}" for n in names)
        if "threshold" not in task_metrics:  # none chosen, or a metrics.json of an earlier release
            return line
        at = task_metrics["at_threshold"]
        return (
            f"{line}; at threshold {task_metrics['threshold']['value']:.3f} (best F1 on validation): "
            f"precision {at['precision']:.3f}, recall {at['recall']:.3f}, f1 {at['f1']:.3f}"
        )


class Estimate(Kind):
    """A regressor's estimate of a record field (stead.REGRESSION_TARGETS), in that field's units."""

    def __init__(self, name: str, output: Output):
        self.name, self.truth = name, output.truth
        self.units = stead.REGRESSION_TARGETS[self.truth]

    def _errors(self, values, metadata) -> tuple[np.ndarray, np.ndarray]:
        return metadata[self.truth].astype(np.float64), values[self.name].astype(np.float64)

    def metrics(self, values, metadata, out_dir, validation):
        truth, predicted = self._errors(values, metadata)
        task_metrics = {
            **metrics.regression_metrics(truth, predicted),
            "target": self.truth,
            "units": self.units,
        }
        return task_metrics, figures.regression_figures(
            truth, predicted, metadata, self.truth, self.units, out_dir
        )

    def position_metrics(self, values, metadata, task_metrics):
        truth, predicted = self._errors(values, metadata)
        error = predicted - truth
        return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean()))}

    def grid_quota(self):
        return {stead.EARTHQUAKE_CLASS: GRID_EXAMPLES}

    def grid_text(self, values, metadata, i):
        return f"{metadata[self.truth][i]:.2f}", f"{values[self.name][i]:.2f}"

    def summary(self, task_metrics):
        return (
            f"RMSE {task_metrics['rmse']:.3f} {task_metrics['units']} "
            f"(target std {task_metrics['target_std']:.3f}), "
            f"MAE {task_metrics['mae']:.3f}, R^2 {task_metrics['r2']:.3f}"
        )


class Onsets(Kind):
    """Picks of each phase (arrivals with their probability) of earthquakes, against the record's onsets."""

    def __init__(self, picks: dict[str, Output]):
        self.picks = {output.phase: (name, output.truth) for name, output in picks.items()}

    def _residuals(self, values, metadata) -> dict[str, np.ndarray]:
        """Each phase's pick - onset in seconds, over the earthquakes that have the onset."""
        earthquake = metadata["label"] == stead.EARTHQUAKE_CLASS
        residuals = {}
        for phase, (name, truth) in self.picks.items():
            known = earthquake & np.isfinite(metadata[truth])
            residuals[phase] = (values[name][known] - metadata[truth][known]) / stead.SAMPLING_RATE_HZ
        return residuals

    def metrics(self, values, metadata, out_dir, validation):
        residuals = self._residuals(values, metadata)
        task_metrics = {}
        for phase, residual in residuals.items():
            task_metrics[f"{phase}_onset"] = {"picks": int(residual.size)}
            if residual.size:  # a split without this phase has no figures for it
                mean, rms, mae = metrics.residual_summary(residual)
                good_share = float(np.mean(np.abs(residual) <= GOOD_PICK_S))
                task_metrics[f"{phase}_onset"].update(
                    mean_s=mean, rmse_s=rms, mae_s=mae, good_share=good_share
                )
        return task_metrics, [figures.onset_residuals(residuals, "test split", out_dir)]

    def position_metrics(self, values, metadata, task_metrics):
        return {
            f"{phase.lower()}_mae_s": float(np.mean(np.abs(residual))) if residual.size else float("nan")
            for phase, residual in self._residuals(values, metadata).items()
        }

    def summary(self, task_metrics):
        return ", ".join(
            f"{phase} MAE {task_metrics[f'{phase}_onset']['mae_s']:.3f} s "
            f"({task_metrics[f'{phase}_onset']['good_share']:.0%} within {GOOD_PICK_S} s)"
            for phase in self.picks
            if task_metrics[f"{phase}_onset"]["picks"]
        )


def of(task: Task) -> list[Kind]:
    """What evaluates a model of `task`: one Kind for each kind its declared outputs have."""
    outputs = task.outputs()
    detections = [Detection(n, o) for n, o in outputs.items() if o.kind == "earthquake_probability"]
    estimates = [
        Estimate(n, o) for n, o in outputs.items() if o.kind in ESTIMATES and o.truth and not o.confidence
    ]
    picks = {n: o for n, o in outputs.items() if o.kind == "arrival" and o.confidence}
    kinds = [*detections, *estimates, *([Onsets(picks)] if picks else [])]
    if len(detections) > 1 or len(estimates) > 1:
        raise ValueError(f"{task.describe()}: metrics.json holds one detection and one estimate at most")
    return kinds


def summary(task: Task, task_metrics: dict) -> str:
    """The headline metrics of an evaluation's metrics.json, in one line."""
    return "; ".join(line for line in (kind.summary(task_metrics) for kind in of(task)) if line)
