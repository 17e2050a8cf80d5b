"""Training one CNN on converted STEAD, resumably, under any tf.distribute strategy.

`train_and_evaluate(config, model_dir)` is the whole job behind
`python -m techtonics.train`. What it leaves in the model directory:

    flags.txt, config.json   how the directory was made (the same command resumes it)
    backup/                  BackupAndRestore state, saved at the end of every epoch
    checkpoints/epoch-NNN.*  the weights after every epoch
    best/                    the weights with the best validation metric so far
    history.csv, logs/       one row per epoch; TensorBoard
    export/                  SavedModel of the best weights: raw waveforms -> probabilities
                             or the target in its own units (models.export_model)
    eval/<split>/            metrics.json and figures (evaluate.py)

Resume order: the callbacks run checkpoints, history and TensorBoard first
and BackupAndRestore last, so a run killed at any moment restarts at the last
epoch whose backup is complete and never skips an epoch's checkpoint; the
history rows of an epoch whose backup did not complete are dropped then.

Under MultiWorkerMirroredStrategy every worker runs this same function on the
same model_dir; only the chief (distribute.is_chief) writes there, the others'
Keras writes go to temporary directories that Keras removes. Every worker
prints its final weights' fingerprint, which must agree across the job.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time

import tensorflow as tf
import tf_keras

from techtonics import data, distribute, evaluate, fileio, models, options, records, splits, stead
from techtonics.errors import UserError
from techtonics.options import option

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
FIRST_STEP_LINE = "first training step done,"


class TrainingError(UserError):
    """A one-line reason why training cannot start or go on."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training job: its options (techtonics.options) and the configs it nests."""

    records: str  # a converted dataset: its directory or manifest.json
    task: str = option("classification", "What the model learns.", choices=stead.TASKS)
    target: str = option("source_magnitude", "Regression target (task=regression).", choices=records.TARGETS)
    model: models.ModelConfig = options.nested(models.ModelConfig)
    input: data.InputConfig = options.nested(data.InputConfig)
    epochs: int = option(10, "Epochs in all (a resumed run trains only the rest).", minimum=1)
    steps_per_epoch: int = option(0, "Cap on steps per epoch; 0: a full pass.", minimum=0)
    learning_rate: float = option(1e-3, "Adam's learning rate.")
    seed: int = option(0, "Seed of weights, dropout and shuffling.")
    strategy: str = option("auto", "tf.distribute strategy.", choices=distribute.STRATEGIES)
    collective: str = option(
        "auto",
        "All-reduce implementation: NCCL or ring (multi_worker); NCCL or hierarchical copy (mirrored).",
        choices=distribute.COLLECTIVES,
    )
    jit_compile: bool = option(False, "Compile the training step with XLA.")
    precision: str = option("float32", "Keras dtype policy.", choices=PRECISIONS)
    steps_per_execution: int = option(1, "Training steps per tf.function call.", minimum=1)
    evaluate_split: str = option(
        "test", "Split evaluated with the exported model at the end.", choices=(*splits.SPLITS, "none")
    )

    def __post_init__(self):
        options.check(self)
        if self.learning_rate <= 0:
            raise UserError(f"--learning_rate={self.learning_rate}: must be positive")
        # The task, target and seed are the job's; the nested configs carry them to the model and the input.
        object.__setattr__(self, "model", dataclasses.replace(self.model, task=self.task))
        labels = {"task": self.task, "target": self.target, "seed": self.seed}
        object.__setattr__(self, "input", dataclasses.replace(self.input, **labels))

    def input_config(self, num_workers: int) -> data.InputConfig:
        """The input pipeline's settings for a job of `num_workers` processes."""
        return dataclasses.replace(self.input, num_workers=num_workers)

    def defining(self) -> dict:
        """What a resumed run must keep: everything that shapes the model and what it learns."""
        return {**options.flat(self.model), "target": self.target, "precision": self.precision}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"


def _check_resumable(config: TrainConfig, model_dir: str) -> None:
    path = fileio.join(model_dir, "config.json")
    if not fileio.exists(path):
        return
    with fileio.open_file(path, "rb") as f:
        before = options.flatten(json.loads(f.read()))
    now = config.defining()
    changed = [k for k in now if before.get(k) != now[k]]
    if changed:
        raise TrainingError(
            f"{model_dir} holds a model with different {', '.join(changed)} "
            f"({', '.join(f'{k}={before.get(k)}' for k in changed)}); use a new --model_dir"
        )


def compile_model(model: tf_keras.Model, config: TrainConfig) -> None:
    """Adam, the task's loss and metrics, XLA and steps per execution as configured."""
    if config.task == "classification":
        loss, metrics = tf_keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]
    else:
        loss = tf_keras.losses.MeanSquaredError()
        metrics = [tf_keras.metrics.MeanAbsoluteError("mae"), tf_keras.metrics.RootMeanSquaredError("rmse")]
    model.compile(
        optimizer=tf_keras.optimizers.Adam(config.learning_rate),
        loss=loss,
        metrics=metrics,
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )


def _monitor(task: str) -> tuple[str, str]:
    return ("val_accuracy", "max") if task == "classification" else ("val_loss", "min")


def _backed_up_epochs(model_dir: str) -> int:
    """Epochs that BackupAndRestore's state holds: a resumed fit starts after them."""
    latest = tf.train.latest_checkpoint(fileio.join(model_dir, "backup", "chief"))
    if not latest:
        return 0
    # The variable Keras's WorkerTrainingState saves beside the model (tf_keras 2.17).
    return int(tf.train.load_checkpoint(latest).get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def _completed_history(model_dir: str, chief: bool) -> list[dict]:
    """history.csv's rows of the epochs the backup holds; the chief drops any others from the file.

    A run killed after an epoch's history row but before its backup finished
    trains that epoch again; dropping the row keeps one row per epoch.
    """
    path = fileio.join(model_dir, "history.csv")
    if not fileio.exists(path):
        return []
    with fileio.open_file(path, "r") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    done = _backed_up_epochs(model_dir)
    kept = [row for row in rows if int(row["epoch"]) < done]
    if chief and len(kept) < len(rows):
        lines = text.splitlines(keepends=True)
        fileio.write_atomic(path, "".join(lines[: len(kept) + 1]))
    return kept


def _best_so_far(history: list[dict], monitor: str, mode: str) -> float | None:
    """The best monitored value of the epochs already done, so a resumed run keeps a better best."""
    values = [float(row[monitor]) for row in history if row.get(monitor)]
    return (max if mode == "max" else min)(values) if values else None


class _FirstStep(tf_keras.callbacks.Callback):
    """Says when the first training step is done: the start-up users wait for (and the benchmark reads)."""

    def on_train_begin(self, logs=None):
        self.started, self.done = time.monotonic(), False

    def on_train_batch_end(self, batch, logs=None):
        if not self.done:
            self.done = True
            print(f"{FIRST_STEP_LINE} {time.monotonic() - self.started:.1f} s after fit started", flush=True)


def _callbacks(
    config: TrainConfig, model_dir: str, chief: bool, history: list[dict]
) -> list[tf_keras.callbacks.Callback]:
    """history: the rows of the epochs already done (every worker must see the same ones)."""
    monitor, mode = _monitor(config.task)
    history_csv = fileio.join(model_dir, "history.csv")
    callbacks = [
        _FirstStep(),
        tf_keras.callbacks.ModelCheckpoint(
            fileio.join(model_dir, "checkpoints", "epoch-{epoch:03d}"), save_weights_only=True
        ),
        tf_keras.callbacks.ModelCheckpoint(
            fileio.join(model_dir, "best", "weights"),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=_best_so_far(history, monitor, mode),
        ),
        tf_keras.callbacks.TensorBoard(fileio.join(model_dir, "logs"), profile_batch=0),
    ]
    if chief:
        callbacks.append(tf_keras.callbacks.CSVLogger(history_csv, append=True))
    callbacks.append(
        tf_keras.callbacks.BackupAndRestore(fileio.join(model_dir, "backup"), delete_checkpoint=False)
    )
    return callbacks


def _datasets(config: TrainConfig, records: data.Records, workers: int) -> dict:
    input_config = config.input_config(workers)
    train, steps = data.training_input(records, input_config)
    validation, validation_steps = data.split_dataset(records, "validation", input_config, training=False)
    # Workers' validation shares differ; tf.distribute ends the pass when all of them are done.
    return {"train": (train, steps), "validation": (validation, validation_steps if workers == 1 else None)}


def _export(config: TrainConfig, records: data.Records, model_dir: str) -> str:
    """Exports the best weights (the last epoch's without a validation metric) in float32."""
    tf_keras.mixed_precision.set_global_policy("float32")
    model = models.build_model(config.model)
    best = fileio.join(model_dir, "best", "weights")
    last = tf.train.latest_checkpoint(fileio.join(model_dir, "checkpoints"))
    model.load_weights(best if fileio.exists(best + ".index") else last).expect_partial()
    info = {"task": config.task, "records": records.path, "image_channels": config.model.image.channels}
    if config.task == "regression":
        mean, std = records.normalization(config.target)
        info.update(target=config.target, mean=mean, std=std)
    path = fileio.join(model_dir, "export")
    models.export_model(model, path, info)
    return path


def train_and_evaluate(
    config: TrainConfig,
    model_dir: str,
    flags_text: str | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict:
    """Trains (resuming whatever model_dir holds), exports, and evaluates on config.evaluate_split.

    flags_text: the command line's resolved flags, written to flags.txt.
    strategy: in place of config.strategy's (tests pass one over logical
    devices). Returns {"history": ..., "export": path, "metrics": ... or None}.
    """
    records = data.Records(config.records)
    strategy = strategy or distribute.make_strategy(config.strategy, config.collective)
    chief = distribute.is_chief(strategy)
    _check_resumable(config, model_dir)
    if chief:
        fileio.makedirs(model_dir)
        fileio.write_atomic(fileio.join(model_dir, "config.json"), config.to_json())
        if flags_text is not None:
            fileio.write_atomic(fileio.join(model_dir, "flags.txt"), flags_text)

    tf_keras.utils.set_random_seed(config.seed)
    if config.input.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf_keras.mixed_precision.set_global_policy(config.precision)
    datasets = _datasets(config, records, distribute.num_workers(strategy))
    train, steps = datasets["train"]
    validation, validation_steps = datasets["validation"]
    steps = min(steps, config.steps_per_epoch) if config.steps_per_epoch else steps
    replicas = strategy.num_replicas_in_sync
    batch_size = config.input.batch_size
    if batch_size % replicas:
        raise TrainingError(f"batch_size {batch_size} does not split evenly over {replicas} replicas")
    what = f"{config.task} of {config.target}" if config.task == "regression" else config.task
    print(
        f"{what}: global batch {batch_size} = {batch_size // replicas} per replica x "
        f"{replicas} replicas, {steps} steps per epoch, {config.epochs} epochs",
        flush=True,
    )
    with strategy.scope():
        model = models.build_model(config.model)
        compile_model(model, config)
    done = _completed_history(model_dir, chief)
    try:
        history = model.fit(
            train,
            epochs=config.epochs,
            steps_per_epoch=steps,
            validation_data=validation,
            validation_steps=validation_steps,
            callbacks=_callbacks(config, model_dir, chief, done),
            verbose=2,
        )
    except tf.errors.UnavailableError as e:
        lost = next((line for line in e.message.splitlines() if "/job:" in line), e.message.splitlines()[0])
        raise TrainingError(
            f"lost a worker of the job ({lost.strip()}); run the same command on every worker "
            "to resume from the last completed epoch"
        ) from None
    except tf.errors.DataLossError as e:
        raise TrainingError(
            f"{records.path}: a shard is corrupt ({e.message.splitlines()[0]}); "
            "find it with tools/convert_to_tfrecord.py --verify"
        ) from None
    print(f"trained epochs {[e + 1 for e in history.epoch] or 'none: already complete'}", flush=True)
    task = distribute.task_name(strategy)
    print(f"{task + ': ' if task else ''}final weights {distribute.weights_fingerprint(model)}", flush=True)
    if not chief:
        return {"history": history.history, "export": None, "metrics": None}
    export = _export(config, records, model_dir)
    metrics = evaluate.evaluate(model_dir, config.evaluate_split) if config.evaluate_split != "none" else None
    return {"history": history.history, "export": export, "metrics": metrics}
