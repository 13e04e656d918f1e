"""Real training: the recipe, one model's training run, and the training oracle.

Beside the benchmark-table oracle (:class:`nas.benchmarks.base.Oracle`, "training" = a table
look-up), :class:`TrainingOracle` trains each architecture it is asked for on the dataset's
training part and answers with its accuracy (or loss) on the validation part, which nothing else
reads (see :func:`nas.userdata.load_split`). It has the table oracle's interface (``train``,
``budget``, ``history``, ``maximise``), so every search strategy runs on it unchanged.

**The data.** Training reads the "train" part of the dataset's one seeded, stratified split
(:func:`nas.userdata.load_split`, 10% held out) and validates on its "valid" part. For user
datasets proxy batches come from the "train" part too, so nothing a search sees touches the
validation examples; the built-in datasets' proxy batches are drawn from all of their training
files, as the published scores were (a proxy batch of 256 images may include validation images).

**The recipe** (:class:`Recipe`, every field stated in reports): SGD with momentum 0.9 (Nesterov)
and weight decay 5e-4 on weights (not on batch-norm parameters or biases), learning rate 0.1
at batch 128 following a cosine schedule to 0 over the budget, cross-entropy loss, standard
augmentation (random crop with 4 pixels of zero padding and horizontal flips; none for
validation), inputs normalised per channel. The budget is ``epochs`` passes over the training
part, or ``seconds`` of wall time per model, whichever ends first; with a ``seconds`` budget
the cosine schedule follows the elapsed fraction of time. ``train_examples`` and
``valid_examples`` take seeded subsets of the two parts (for speed on a CPU), and ``network``
holds the space's build options for a reduced-size network (e.g. NAS-Bench-201's
``{channels: 8, cells_per_stage: 1}`` instead of 16 and 5).

**Caching.** Every finished run is written at once to a :class:`TrainingStore` (an SQLite file
beside the score store), keyed by the space, the exact architecture string, the recipe, the data
identity (:func:`nas.userdata.dataset_identity`) and the seed: asking again costs nothing, and an
interrupted search resumes losing at most the models that were training. The trained weights are
kept in the cache directory (``trained/<key>.pt``) for export.

**Where it runs.** Missing runs go through the executors of :mod:`nas.executors`, one
architecture per worker (``serial``, ``local`` processes, or ``ray`` actors): a strategy that asks
for several models at once (:meth:`TrainingOracle.train_many`: an initial population, a warm-up
list) trains them in parallel.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nas import paths
from nas.benchmarks.base import Query
from nas.errors import NasError
from nas.executors import Failure, create_executor
from nas.store import retry, store_error

#: file name of the training store inside the cache directory
TRAINING_FILE = "trainings.sqlite"
#: the oracle metrics a training run answers, and whether larger is better
TRAINING_METRICS: dict[str, bool] = {"valid_acc": True, "valid_loss": False}


@dataclass(frozen=True)
class Recipe:
    """How a model is trained (see the module docstring); its :meth:`identity` keys the cache."""

    epochs: int = 3
    #: wall-time budget per model in seconds (``None``: epochs only)
    seconds: float | None = None
    batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = True
    #: seeded subset of the training part (``None``: all of it)
    train_examples: int | None = None
    #: seeded subset of the validation part (``None``: all of it)
    valid_examples: int | None = None
    #: the space's build options for a reduced network, e.g. ``{"channels": 8, "cells_per_stage": 1}``
    network: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            problems.append(f"epochs must be a positive integer, got {self.epochs!r}")
        if self.seconds is not None and not (isinstance(self.seconds, (int, float)) and self.seconds > 0):
            problems.append(f"seconds must be a positive number, got {self.seconds!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"batch_size must be a positive integer, got {self.batch_size!r}")
        for name in ("learning_rate", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a non-negative number, got {value!r}")
        for name in ("train_examples", "valid_examples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                problems.append(f"{name} must be a positive integer or null, got {value!r}")
        if not isinstance(self.network, Mapping):
            problems.append(f"network must be a mapping of build options, got {self.network!r}")
        if problems:
            raise NasError(f"training recipe: {problems[0]}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Recipe":
        """A recipe from a plain mapping (a YAML ``recipe:``); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise NasError(f"training recipe: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (what :meth:`from_mapping` reads)."""
        data = asdict(self)
        data["network"] = dict(self.network)
        return data

    def identity(self) -> str:
        """A short hash of every field: two recipes train alike exactly when it is equal."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line for reports."""
        budget = f"{self.epochs} epochs" + (f" or {self.seconds:g} s" if self.seconds else "")
        network = ", ".join(f"{k}={v}" for k, v in sorted(self.network.items())) or "the space's full size"
        subset = (
            f"; {self.train_examples or 'all'} training and {self.valid_examples or 'all'} validation examples"
        )
        return (
            f"SGD (momentum {self.momentum:g}{', Nesterov' if self.nesterov else ''}, weight decay "
            f"{self.weight_decay:g}), lr {self.learning_rate:g} cosine to 0, batch {self.batch_size}, "
            f"{budget}, {'crop+flip augmentation' if self.augment else 'no augmentation'}; network: {network}{subset}"
        )


@dataclass(frozen=True)
class TrainingResult:
    """One finished training run: validation accuracy (0-100) and loss, cost and learning curve."""

    valid_acc: float
    valid_loss: float
    #: wall seconds of the run (training and validation)
    seconds: float
    #: epochs completed (fractional when a ``seconds`` budget stopped it)
    epochs: float
    #: per epoch: ``{"epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds"}``
    curve: tuple[Mapping[str, float], ...]
    #: where the trained ``state_dict`` is (empty when not kept)
    weights: str = ""

    def metric(self, name: str) -> float:
        """``valid_acc`` or ``valid_loss``."""
        return float(getattr(self, name))


# ---- one training run -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingJob:
    """Everything a worker needs to train one architecture (picklable; see :mod:`nas.executors`)."""

    space: str
    dataset: str
    recipe: Recipe
    seed: int
    data_dir: str | None
    weights_dir: str | None

    def __call__(self, arch: str) -> TrainingResult:
        from nas.spaces import create_space

        space = create_space(self.space)
        weights = None if self.weights_dir is None else str(Path(self.weights_dir) / f"{weights_name(self.space, arch, self.recipe, self.seed)}.pt")
        return train_architecture(space, space.parse(arch), self.dataset, self.recipe, self.seed, self.data_dir, weights)


def weights_name(space: str, arch: str, recipe: Recipe, seed: int) -> str:
    """The file stem of a run's trained weights (a hash of what determines them but the data)."""
    text = json.dumps([space, arch, recipe.identity(), seed])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def train_architecture(
    space: Any,
    arch: Any,
    dataset: str,
    recipe: Recipe,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    weights_path: str | None = None,
    progress: Callable[[Mapping[str, float]], None] | None = None,
) -> TrainingResult:
    """Train ``arch`` of ``space`` on ``dataset``'s training part with ``recipe``; validate on its validation part.

    Deterministic for a given seed on one machine (initialisation, subsets, batch order and
    augmentation all come from generators seeded by ``seed``). ``progress`` is called after each
    epoch with that epoch's curve entry. When ``weights_path`` is given the trained
    ``state_dict`` is saved there.
    """
    import torch
    import torch.nn.functional as F

    from nas.datasets import dataset_spec
    from nas.userdata import load_split, normalisation

    started = time.perf_counter()
    spec = dataset_spec(dataset)
    if spec.kind != "image":
        raise NasError(f"the training oracle trains image classifiers; dataset {dataset!r} is {spec.kind}")
    # the dataset's one split (the one proxy batches of user datasets are drawn from), never the seed's
    train_x, train_y = _subset(*load_split(dataset, "train", data_dir=data_dir), recipe.train_examples, seed)
    valid_x, valid_y = _subset(*load_split(dataset, "valid", data_dir=data_dir), recipe.valid_examples, seed + 1)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in normalisation(dataset, data_dir))
    generator = torch.Generator().manual_seed(seed)
    torch.default_generator.manual_seed(seed)  # the network's initialisation
    try:
        model = space.build(arch, spec, **dict(recipe.network))
    except TypeError as exc:
        raise NasError(f"training recipe: the space cannot build with network options {dict(recipe.network)}: {exc}") from None
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.dim() <= 1 else decay).append(parameter)
    optimiser = torch.optim.SGD(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.learning_rate,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
    )
    images = torch.from_numpy(np.array(train_x))  # a writable copy (the split arrays are read-only)
    labels = torch.from_numpy(np.array(train_y))
    steps_per_epoch = max(1, math.ceil(len(images) / recipe.batch_size))
    total_steps = recipe.epochs * steps_per_epoch
    curve: list[dict[str, float]] = []
    step = 0
    stopped = False
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        loss_sum = correct = seen = 0.0
        for start in range(0, len(images), recipe.batch_size):
            elapsed = time.perf_counter() - started
            if recipe.seconds is not None and elapsed >= recipe.seconds:
                stopped = True
                break
            fraction = elapsed / recipe.seconds if recipe.seconds is not None else 0.0
            fraction = max(fraction, step / total_steps)
            for group in optimiser.param_groups:
                group["lr"] = 0.5 * recipe.learning_rate * (1 + math.cos(math.pi * min(1.0, fraction)))
            index = order[start : start + recipe.batch_size]
            x = _augment(images[index], generator) if recipe.augment else images[index]
            x = (x.float() / 255.0 - mean) / std
            y = labels[index]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            seen += len(y)
        valid_loss, valid_acc = _evaluate(model, valid_x, valid_y, mean, std, recipe.batch_size)
        entry = {
            "epoch": epoch + (seen / len(images) if stopped else 1.0),
            "train_loss": loss_sum / seen if seen else math.nan,
            "train_acc": 100.0 * correct / seen if seen else math.nan,
            "valid_loss": valid_loss,
            "valid_acc": valid_acc,
            "seconds": time.perf_counter() - started,
        }
        curve.append(entry)
        if progress is not None:
            progress(entry)
        if stopped:
            break
    if weights_path is not None:
        Path(weights_path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights_path)
    last = curve[-1]
    return TrainingResult(
        valid_acc=last["valid_acc"],
        valid_loss=last["valid_loss"],
        seconds=time.perf_counter() - started,
        epochs=last["epoch"],
        curve=tuple(curve),
        weights=weights_path or "",
    )


def _subset(images: np.ndarray, labels: np.ndarray, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if size is None or size >= len(images):
        return images, labels
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), size, replace=False))
    return images[chosen], labels[chosen]


def _augment(images: Any, generator: Any) -> Any:
    """Random crops with 4 pixels of zero padding and random horizontal flips, per example (uint8 in, uint8 out)."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(images.shape[1])[None, :, None, None]
    cropped = padded[batch, channels, rows, cols]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def _evaluate(model: Any, images: np.ndarray, labels: np.ndarray, mean: Any, std: Any, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (0-100) of ``model`` in evaluation mode."""
    import torch
    import torch.nn.functional as F

    model.eval()
    loss_sum = correct = 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.array(images[start : start + batch_size])).float() / 255.0
            y = torch.from_numpy(np.array(labels[start : start + batch_size]))
            logits = model((x - mean) / std)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += float((logits.argmax(1) == y).sum())
    return loss_sum / len(images), 100.0 * correct / len(images)


# ---- the cache ------------------------------------------------------------------------------

_TRAININGS = """
CREATE TABLE IF NOT EXISTS trainings (
    space TEXT NOT NULL,
    arch TEXT NOT NULL,
    recipe TEXT NOT NULL,
    data TEXT NOT NULL,
    seed INTEGER NOT NULL,
    valid_acc REAL,
    valid_loss REAL,
    seconds REAL NOT NULL,
    epochs REAL NOT NULL,
    curve TEXT NOT NULL,
    weights TEXT NOT NULL,
    recipe_json TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (space, arch, recipe, data, seed)
)
"""


@dataclass(frozen=True)
class TrainingKey:
    """What determines a training run: space, exact architecture string, recipe, data identity, seed."""

    space: str
    arch: str
    recipe: str
    data: str
    seed: int


class TrainingStore:
    """Finished training runs in an SQLite file (``trainings.sqlite`` in the cache directory).

    Safe for concurrent processes as the score store is (WAL mode, retried writes, one commit per
    run), so an interrupted search keeps every run that finished.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

        def initialise() -> None:
            tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "trainings" not in tables:
                raise NasError(f"{self.path!r} is an SQLite database but not a training store: move it away, or use another --cache-dir")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(_TRAININGS)

        try:
            retry(self.path, initialise)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None = None) -> "TrainingStore":
        """The training store of the cache directory (``--cache-dir``, ``NAS_CACHE_DIR`` or ``~/.cache/nas``)."""
        return cls(paths.cache_dir(cache_dir) / TRAINING_FILE)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def get(self, key: TrainingKey) -> TrainingResult | None:
        """The stored run of ``key``, or ``None``."""
        row = retry(
            self.path,
            lambda: self._db.execute(
                "SELECT valid_acc, valid_loss, seconds, epochs, curve, weights FROM trainings "
                "WHERE space = ? AND arch = ? AND recipe = ? AND data = ? AND seed = ?",
                (key.space, key.arch, key.recipe, key.data, key.seed),
            ).fetchone(),
        )
        if row is None:
            return None
        acc, loss, seconds, epochs, curve, weights = row
        return TrainingResult(_nan(acc), _nan(loss), seconds, epochs, tuple(json.loads(curve)), weights)

    def put(self, key: TrainingKey, result: TrainingResult, recipe: Recipe) -> None:
        """Store one finished run (replacing an earlier one of the same key)."""
        values = (
            key.space, key.arch, key.recipe, key.data, key.seed,
            _sql(result.valid_acc), _sql(result.valid_loss), result.seconds, result.epochs,
            json.dumps(list(result.curve), allow_nan=True), result.weights, json.dumps(recipe.to_dict(), sort_keys=True),
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        retry(self.path, lambda: self._db.execute("INSERT OR REPLACE INTO trainings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values))

    def __len__(self) -> int:
        return int(retry(self.path, lambda: self._db.execute("SELECT COUNT(*) FROM trainings").fetchone()[0]))


def _sql(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


# ---- the oracle -----------------------------------------------------------------------------


class Trainer:
    """Finished training runs on demand: read from the :class:`TrainingStore`, else trained on the executor.

    One trainer serves every run of an experiment (its workers and store are shared); each run
    has its own :class:`TrainingOracle` with its budget and history. ``on_result(arch, result,
    cached)`` is called for each run as it becomes available (progress reports).
    """

    def __init__(
        self,
        space: str,
        dataset: str,
        recipe: Recipe,
        seed: int = 0,
        executor: str = "serial",
        workers: int | None = None,
        ray_address: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        store: TrainingStore | None = None,
        on_result: Callable[[str, TrainingResult, bool], None] | None = None,
    ):
        from nas.userdata import dataset_identity

        self.space, self.dataset, self.recipe, self.seed = space, dataset, recipe, seed
        self._data = dataset_identity(dataset, data_dir)
        self._store = store if store is not None else TrainingStore.open(cache_dir)
        self._owns_store = store is None
        self._job = TrainingJob(
            space, dataset, recipe, seed, None if data_dir is None else str(data_dir),
            str(paths.cache_dir(cache_dir) / "trained"),
        )
        self._executor_args = (executor, workers, ray_address)
        self._executor: Any = None
        self.on_result = on_result
        #: wall seconds spent training (runs read from the store cost nothing)
        self.wall_seconds = 0.0

    def key(self, arch: str) -> TrainingKey:
        """The cache key of ``arch`` under this trainer's recipe, data and seed."""
        return TrainingKey(self.space, arch, self.recipe.identity(), self._data, self.seed)

    def results(self, archs: Sequence[str]) -> dict[str, TrainingResult]:
        """The finished run of each architecture: stored ones first, the others trained in parallel and stored as each ends."""
        found: dict[str, TrainingResult] = {}
        for arch in dict.fromkeys(archs):
            stored = self._store.get(self.key(arch))
            if stored is not None:
                found[arch] = stored
                if self.on_result is not None:
                    self.on_result(arch, stored, True)
        missing = [arch for arch in dict.fromkeys(archs) if arch not in found]
        if not missing:
            return found
        started = time.perf_counter()
        if self._executor is None:
            self._executor = create_executor(*self._executor_args)
        try:
            for arch, result in self._executor.map_unordered(self._job, missing):
                if isinstance(result, Failure):
                    raise NasError(f"training {arch[:60]!r} failed: {result.reason}")
                self._store.put(self.key(arch), result, self.recipe)
                found[arch] = result
                if self.on_result is not None:
                    self.on_result(arch, result, False)
        finally:
            self.wall_seconds += time.perf_counter() - started
        return found

    def close(self) -> None:
        """Stop the workers and close the store (when this trainer opened it)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self._owns_store:
            self._store.close()


class TrainingOracle:
    """The training oracle of one search run (see the module docstring); the training is the :class:`Trainer`'s.

    Interface of :class:`nas.benchmarks.base.Oracle`: every architecture asked for counts as one
    trained model against ``budget`` and is recorded in :attr:`history` with the running best
    (``Query.seconds`` = the run's training seconds, also when it came from the cache);
    :attr:`results` keeps each run's :class:`TrainingResult` in the same order.
    """

    def __init__(self, trainer: Trainer, metric: str = "valid_acc", budget: int | None = None):
        if metric not in TRAINING_METRICS:
            raise NasError(f"the training oracle answers {', '.join(TRAINING_METRICS)}, not {metric!r}")
        self.trainer, self.metric, self.budget = trainer, metric, budget
        self.maximise = TRAINING_METRICS[metric]
        self.history: list[Query] = []
        self.results: list[TrainingResult] = []

    @property
    def queries(self) -> int:
        """Number of models trained so far."""
        return len(self.history)

    @property
    def exhausted(self) -> bool:
        """Whether the budget is used up."""
        return self.budget is not None and self.queries >= self.budget

    @property
    def simulated_seconds(self) -> float:
        """Sum of the training seconds of the trained models."""
        return sum(q.seconds for q in self.history)

    def train(self, arch: str) -> float:
        """Train ``arch`` (or read its finished run), count it, record the running best; returns the metric."""
        return self.train_many([arch])[0]

    def train_many(self, archs: Sequence[str]) -> list[float]:
        """Train several architectures (in parallel on the trainer's executor); the history keeps their order.

        Raises when they do not fit in the remaining budget.
        """
        if self.budget is not None and self.queries + len(archs) > self.budget:
            raise RuntimeError(f"oracle budget of {self.budget} trained models is used up")
        found = self.trainer.results(archs)
        values = []
        better = max if self.maximise else min
        for arch in archs:
            result = found[arch]
            value = result.metric(self.metric)
            previous = self.history[-1].best if self.history else math.nan
            best = value if math.isnan(previous) else previous if math.isnan(value) else better(previous, value)
            self.history.append(Query(arch, value, best, result.seconds))
            self.results.append(result)
            values.append(value)
        return values
