"""Training one CNN on converted STEAD, resumably, under any tf.distribute strategy.

`train_and_evaluate(config, model_dir)` is the whole job behind
`python -m techtonics.train`. What it leaves in the model directory:

    flags.txt, config.json   how the directory was made (the same command resumes it)
    recipe.json              the datasets, augmentation and class weights trained with, from which epoch
    backup/                  BackupAndRestore state, saved at the end of every epoch
    checkpoints/epoch-NNN.*  the weights after every epoch
    best/weights-NNN         the weights with the best validation metric so far (its epoch's)
    history.csv, logs/       one row per epoch; TensorBoard
    export/                  SavedModel of the best weights: raw waveforms -> probabilities
                             or the target in its own units (model/export.py)
    eval/<split>/            metrics.json and figures (evaluation.py)

A rerun of the same command resumes (callbacks.py: how a kill or a SIGTERM
at any moment resumes). A rerun may train more epochs, never fewer: config.json
keeps the most epochs asked for. recipe.json records the converted datasets
trained on by their content (ConvertedDataset.identity), the augmentation and
the class weights; a resume on another dataset is refused unless
--allow_recipe_change, since its splits may overlap, and so is a change of
augmentation or class weights.

Under MultiWorkerMirroredStrategy every worker runs this same function on the
same model_dir; only the chief (distribute.is_chief) writes there, the others'
Keras writes go to temporary directories that Keras removes. Every worker
prints its final weights' fingerprint, which must agree across the job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time

import tensorflow as tf
import tf_keras

from techtonics.cluster import distribute
from techtonics.conversion import verify
from techtonics.core import fileio, options
from techtonics.core.errors import UserError
from techtonics.core.options import option
from techtonics.data import records, splits
from techtonics.data.converted import ConvertedDataset
from techtonics.model import cnn, dropout, export
from techtonics.training import augmentation, callbacks, evaluation, input_pipeline, step, tasks

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class TrainingError(UserError):
    """A one-line reason why training cannot start or go on."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training job: its options (techtonics.core.options) and the configs it nests."""

    records: str  # a converted dataset: its directory or manifest.json
    task: str = option("classification", "What the model learns.", choices=tuple(tasks.TASKS))
    target: str = option("source_magnitude", "Regression target (task=regression).", choices=records.TARGETS)
    head: str = option(
        "auto",
        "The model's head: auto (the task's own: the original's dense layers, the picker's U-Net), or "
        "arrival for a regression of an arrival anywhere in the window (reads the image's time axis).",
        choices=tasks.HEADS,
    )
    model: cnn.ModelConfig = options.nested(cnn.ModelConfig)
    input: input_pipeline.InputConfig = options.nested(input_pipeline.InputConfig)
    augment: augmentation.AugmentConfig = options.nested(augmentation.AugmentConfig)
    plateau: callbacks.PlateauConfig = options.nested(callbacks.PlateauConfig)
    epochs: int = option(
        10, "Epochs in all, at most with early stopping (a resumed run trains only the rest).", minimum=1
    )
    steps_per_epoch: int = option(0, "Cap on steps per epoch; 0: a full pass.", minimum=0)
    keep_checkpoints: int = option(
        3,
        "Per-epoch checkpoints kept, the newest (the best epoch's weights are kept besides); 0: all.",
        minimum=0,
    )
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
    class_weight: str = option(
        "none",
        "Weights of the classes in the training loss: none, balanced (each class adds the same to an "
        "epoch's loss) or one per class (noise,earthquake), such as 1,0.4 (classification).",
    )
    allow_recipe_change: bool = option(
        False,
        "Resume although the converted dataset, augmentation or class weights differ from the model "
        "directory's.",
    )

    def __post_init__(self):
        options.check(self)
        if self.learning_rate <= 0:
            raise UserError(f"--learning_rate={self.learning_rate}: must be positive")
        tasks.parse_class_weight(self.class_weight)
        self.make_task()  # refuses a head the task cannot have
        if self.input.deterministic and self.jit_compile:  # TensorFlow fails at the first step, not here
            raise UserError(
                "--deterministic with --jit_compile: XLA has no deterministic max-pool gradient, "
                "which both CNNs need; drop one of them"
            )

    def make_task(self) -> tasks.Task:
        """The task object of --task (and --target)."""
        return tasks.get(self.task, self.target, self.head, self.model.image)

    def defining(self) -> dict:
        """What a resumed run must keep: everything that shapes the model and what it learns."""
        return {**self.make_task().defining(), **options.flat(self.model), "precision": self.precision}

    def to_json(self) -> str:
        """config.json: every field, nested as the configs nest, and the model's head (the task's choice)."""
        recorded = {**dataclasses.asdict(self), "head": self.make_task().head}
        return json.dumps(recorded, indent=2, sort_keys=True) + "\n"

    @classmethod
    def load(cls, model_dir: str, **given) -> TrainConfig:
        """The config a model directory was trained with (config.json of any release); `given` overrides."""
        recorded = fileio.read_json(fileio.join(model_dir, CONFIG_FILE))
        if recorded is None:
            raise UserError(f"{model_dir}: not a model directory (no {CONFIG_FILE})")
        return options.from_dict(cls, recorded, **given)


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training job did: its history, and on the chief its export and evaluation."""

    history: dict  # Keras History.history of the epochs this run trained
    first_step_seconds: float | None  # from train_and_evaluate's call to the first step's end; None: none ran
    export: str | None = None  # the export's path
    metrics: dict | None = None  # evaluate's metrics.json of config.evaluate_split


CONFIG_FILE = "config.json"


RECIPE_FILE = "recipe.json"


def _check_resumable(config: TrainConfig, model_dir: str, converted: ConvertedDataset) -> None:
    """Refuses a model directory made by another model or task, or (unless allowed) on other data."""
    recorded = fileio.read_json(fileio.join(model_dir, CONFIG_FILE))
    if recorded is None:
        return
    # The head as recorded: the task's rules for choosing it change between releases, and every release
    # before the arrival head recorded none and had the dense one.
    before = {**options.from_dict(TrainConfig, recorded).defining(), "head": recorded.get("head", "dense")}
    now = config.defining()
    changed = [k for k in {**now, **before} if before.get(k) != now.get(k)]
    if changed:
        raise TrainingError(
            f"{model_dir} holds a model with different {', '.join(changed)} "
            f"({', '.join(f'{k}={before.get(k)}' for k in changed)}); use a new --model_dir"
        )
    if config.allow_recipe_change:
        return
    recipes = fileio.read_json(fileio.join(model_dir, RECIPE_FILE))  # none before release 0.2.0
    last = recipes[-1] if recipes else None
    if last and last["identity"] != converted.identity:
        raise TrainingError(
            f"{model_dir} was trained on {last['records']}; --records={config.records} holds other "
            "shards, whose splits may overlap its: use a new --model_dir, or --allow_recipe_change"
        )
    default = _training_recipe(TrainConfig(records=""))
    flat = options.flatten(recorded)
    recipe = {k: flat.get(k, v) for k, v in default.items()}  # older directories: the defaults
    changed = [k for k, v in _training_recipe(config).items() if recipe[k] != v]
    if changed:
        raise TrainingError(
            f"{model_dir} was trained with other augmentation or class weights "
            f"({', '.join(f'{k}={recipe[k]}' for k in changed)}); use a new --model_dir, "
            "or --allow_recipe_change"
        )


def _training_recipe(config: TrainConfig) -> dict:
    """What a resumed run keeps unless allowed, besides its data: augmentation and class weights."""
    return {**options.flat(config.augment), "class_weight": config.class_weight}


def compile_model(model: tf_keras.Model, config: TrainConfig, task: tasks.Task) -> None:
    """Adam, the task's loss and metrics, XLA and steps per execution as configured; dropout drawn from
    the optimizer's step count, which the backup holds (model/dropout.py)."""
    model.compile(
        optimizer=tf_keras.optimizers.Adam(config.learning_rate),
        loss=task.build_losses(),
        metrics=task.build_metrics(),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    dropout.count_steps(model)


def _export(config: TrainConfig, task: tasks.Task, converted: ConvertedDataset, model_dir: str):
    """Exports the best weights (the last epoch's without a validation metric) in float32.

    Returns (the export's path, the exported model, ready to serve).
    """
    tf_keras.mixed_precision.set_global_policy("float32")
    model = task.build_model(config.model)
    _load_weights(model, callbacks.best_weights(model_dir), model_dir)
    info = {
        "image_channels": config.model.image.channels,
        "head": task.head,
        **task.export_info(task.normalization(converted)),
    }
    path = fileio.join(model_dir, "export")
    return path, export.export_model(model, path, info, task.serving(info))


def _load_weights(model: tf_keras.Model, weights: str | None, model_dir: str) -> None:
    """Loads weights (None: the last epoch's checkpoint); a damaged checkpoint is one line naming it."""
    weights = weights or tf.train.latest_checkpoint(fileio.join(model_dir, "checkpoints"))
    if weights is None:  # the state file names a checkpoint whose index is gone
        raise TrainingError(f"{fileio.join(model_dir, 'checkpoints')}: no complete checkpoint; train again")
    try:
        model.load_weights(weights).expect_partial()
    except callbacks.DAMAGED as e:
        best = fileio.join(model_dir, "best")
        again = f"remove {best} to use the last epoch's" if weights.startswith(best) else "train again"
        raise TrainingError(
            f"{weights}: damaged weights ({str(e).strip().splitlines()[0]}); {again}"
        ) from None


def _record_job(config: TrainConfig, model_dir: str, flags_text: str | None, converted: ConvertedDataset):
    """config.json, flags.txt and recipe.json: how the directory was made (the same command resumes it).

    A rerun asking for fewer epochs than recorded trains nothing and leaves
    the record as it was. Also removes the `*_temp` directories in which
    TensorFlow writes a checkpoint before renaming it: a run killed, or
    stopped by a full disk, while saving leaves them, and nothing reads them.
    """
    fileio.makedirs(model_dir)
    for saved in ("checkpoints", "best", fileio.join("backup", "chief")):
        for debris in fileio.glob(fileio.join(model_dir, saved, "*_temp")):
            fileio.rmtree(debris)
    before = fileio.read_json(fileio.join(model_dir, CONFIG_FILE)) or {}
    recorded = dataclasses.replace(config, epochs=max(config.epochs, before.get("epochs", 0)))
    now = json.loads(recorded.to_json())
    if before and "head" not in before:  # an earlier release's record (a dense head, checked): kept as is
        del now["head"]
    if now != before:
        fileio.write_atomic(fileio.join(model_dir, CONFIG_FILE), recorded.to_json())
        if flags_text is not None:
            fileio.write_atomic(fileio.join(model_dir, "flags.txt"), flags_text)
    recipes = fileio.read_json(fileio.join(model_dir, RECIPE_FILE)) or []
    recipe = {
        "records": config.records,
        "identity": converted.identity,
        "recipe": _training_recipe(config),
    }
    what = ("identity", "recipe")  # another path to the same shards is the same recipe
    if not recipes or [recipes[-1][k] for k in what] != [recipe[k] for k in what]:
        entry = {"first_epoch": callbacks.completed_epochs(model_dir), **recipe}
        fileio.write_atomic(fileio.join(model_dir, RECIPE_FILE), json.dumps([*recipes, entry], indent=2))


def _fit(model: tf_keras.Model, inputs: dict, callback_list: list, converted: ConvertedDataset, **epochs):
    """Model.fit (epochs: its epochs and initial_epoch), with the failures users can act on as one line."""
    try:
        return model.fit(**inputs, **epochs, callbacks=callback_list, verbose=2)
    except tf.errors.UnavailableError as e:
        lost = next((line for line in e.message.splitlines() if "/job:" in line), e.message.splitlines()[0])
        raise TrainingError(
            f"lost a worker of the job ({lost.strip()}); run the same command on every worker "
            "to resume from the last completed epoch"
        ) from None
    except tf.errors.DataLossError:
        # TensorFlow's error names neither the shard nor the record: find them (read only on failure).
        shards = converted.files("train") + converted.files("validation")
        found = verify.first_unreadable(shards, converted.compression)
        raise TrainingError(
            f"{found or converted.path + ': a shard is corrupt'}; convert again "
            "(tools/convert_to_tfrecord.py --verify lists every damaged shard)"
        ) from None


def _inputs(
    config: TrainConfig,
    task: tasks.Task,
    converted: ConvertedDataset,
    workers: int,
    weights: tuple | None,
    model_dir: str,
) -> dict:
    """Model.fit's data arguments: the training stream from where model_dir's backup resumes (weights:
    each class's) and one validation pass."""
    steps = input_pipeline.steps(converted, "train", config.input, task, training=True)
    first, done = callbacks.resume_point(model_dir)
    epochs = input_pipeline.Epochs(
        min(steps, config.steps_per_epoch or steps), first, 0 if done is None else done + 1
    )
    train, steps = input_pipeline.training_input(
        converted, config.input, task, config.seed, config.augment, weights, epochs
    )
    validation, validation_steps = input_pipeline.split_dataset(
        converted, "validation", config.input, task, training=False, input_pipelines=workers
    )
    return {
        "x": train,
        "steps_per_epoch": steps,
        "validation_data": validation.map(input_pipeline.keras_batch),
        # Workers' validation shares differ; tf.distribute ends the pass when all of them are done.
        "validation_steps": validation_steps if workers == 1 else None,
    }


def train_and_evaluate(
    config: TrainConfig,
    model_dir: str,
    flags_text: str | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainingResult:
    """Trains (resuming whatever model_dir holds), exports, and evaluates on config.evaluate_split.

    flags_text: the command line's resolved flags, written to flags.txt.
    strategy: in place of config.strategy's (tests pass one over logical
    devices). The chief holds model_dir for the whole job (fileio.directory_lock):
    a second job on it is refused in one line.
    """
    started = time.monotonic()
    # Records without a manifest are refused before model_dir (and its lock) is made.
    converted = ConvertedDataset(config.records)
    strategy = strategy or distribute.make_strategy(config.strategy, config.collective)
    chief = distribute.is_chief(strategy)
    with fileio.directory_lock(model_dir, "a training job") if chief else contextlib.nullcontext():
        return _train(config, converted, model_dir, flags_text, strategy, chief, started)


def _train(
    config: TrainConfig,
    converted: ConvertedDataset,
    model_dir: str,
    flags_text: str | None,
    strategy: tf.distribute.Strategy,
    chief: bool,
    started: float,
) -> TrainingResult:
    """train_and_evaluate's work, once the chief holds the directory; started: the job's start."""
    task = config.make_task()
    weights = task.class_weights(converted, config.class_weight)  # refused before anything is written
    input_pipeline.check_augmentation(converted, config.augment)
    _check_resumable(config, model_dir, converted)
    if chief:
        _record_job(config, model_dir, flags_text, converted)
    tf_keras.utils.set_random_seed(config.seed)
    if config.input.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf_keras.mixed_precision.set_global_policy(config.precision)
    inputs = _inputs(config, task, converted, distribute.num_workers(strategy), weights, model_dir)
    if config.evaluate_split != "none":  # a missing shard is refused now, not after the last epoch
        converted.files(config.evaluate_split)
    replicas, batch_size = strategy.num_replicas_in_sync, config.input.batch_size
    if batch_size % replicas:
        raise TrainingError(f"batch_size {batch_size} does not split evenly over {replicas} replicas")
    print(
        f"{task.describe()}: global batch {batch_size} = {batch_size // replicas} per replica x "
        f"{replicas} replicas, {inputs['steps_per_epoch']} steps per epoch, {config.epochs} epochs",
        flush=True,
    )
    with strategy.scope():
        model = task.build_model(config.model)
        if config.augment.enabled:  # on the accelerator, in the step (training/step.py)
            model = step.with_augmentation(model, config.augment, task, task.normalization(converted))
        compile_model(model, config, task)
    first_step, backup = callbacks.FirstStep(started), callbacks.Backup(model_dir)
    done = callbacks.completed_history(model_dir, chief)
    callback_list = callbacks.make_callbacks(
        task, model_dir, chief, done, first_step, backup, config.plateau, config.keep_checkpoints
    )
    initial_epoch = callbacks.completed_epochs(model_dir)
    stopping = callbacks.early_stopping(task, done, config.plateau)
    if initial_epoch >= config.epochs or (
        stopping and stopping.exhausted()
    ):  # complete: fit would only restore, and warn of it
        _load_weights(model, None, model_dir)
        epochs, history = [], {}
    else:
        with callbacks.stop_on_sigterm(backup, distribute.num_workers(strategy)):
            fitted = _fit(
                model, inputs, callback_list, converted, epochs=config.epochs, initial_epoch=initial_epoch
            )
        epochs, history = fitted.epoch, fitted.history
    print(f"trained epochs {[e + 1 for e in epochs] or 'none: already complete'}", flush=True)
    worker = distribute.task_name(strategy)
    print(
        f"{worker + ': ' if worker else ''}final weights {distribute.weights_fingerprint(model)}", flush=True
    )
    result = TrainingResult(history, first_step.seconds)
    if not chief:
        return result
    path, exported = _export(config, task, converted, model_dir)
    if config.evaluate_split == "none":
        return dataclasses.replace(result, export=path)
    evaluated = evaluation.evaluate(
        exported, task, converted, config.evaluate_split, config.input, model_dir, export_path=path
    )
    return dataclasses.replace(result, export=path, metrics=evaluated)


def evaluate_model_dir(model_dir: str, split: str, records_path: str = "") -> dict:
    """Evaluates a model directory's export with the settings it was trained with (evaluation.evaluate).

    records_path: another converted dataset to read instead of the one in config.json; the decision
    threshold chosen on its validation split is then in metrics.json only, not recorded in the export.
    """
    config = TrainConfig.load(model_dir, **({"records": records_path} if records_path else {}))
    path = fileio.join(model_dir, "export")
    loaded, info = export.load_exported(path)
    exported, trained = tasks.from_info(info).defining(), config.make_task().defining()
    if exported != trained:
        raise TrainingError(
            f"{path} holds a model of {_described(exported)}, but {model_dir}'s config.json trained "
            f"{_described(trained)}; export it again (rerun the training command) or evaluate its own "
            "model directory"
        )
    converted, recorded_in = ConvertedDataset(config.records), None if records_path else path
    return evaluation.evaluate(
        loaded, tasks.from_info(info), converted, split, config.input, model_dir, recorded_in
    )


def _described(defining: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in defining.items())
