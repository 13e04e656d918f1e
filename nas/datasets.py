"""Names and shapes of the datasets the spaces are built for.

A :class:`DatasetSpec` is what a space needs to build a network (input shape, number of
classes); reading the data itself is :mod:`nas.data`'s job.

Besides the built-in datasets (:data:`DATASETS`), a name may be a dataset of your own:
``imagefolder:PATH[?size=N]``, ``npz:PATH`` or ``cifar:DIR`` (:data:`USER_FORMS`; see
:mod:`nas.userdata`). Their specs are read from the data, so only those names cost a read;
the built-in names stay a dictionary look-up and import nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from nas.errors import NasError


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's name, kind ("image" or "text"), input shape (without batch) and class count."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    description: str


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("cifar10", "image", (3, 32, 32), 10, "CIFAR-10, 32x32 colour images, 10 classes"),
        DatasetSpec("cifar100", "image", (3, 32, 32), 100, "CIFAR-100, 32x32 colour images, 100 classes"),
        DatasetSpec(
            "imagenet16-120",
            "image",
            (3, 16, 16),
            120,
            "ImageNet16-120, 16x16 down-sampled ImageNet, 120 classes "
            "(stand-in input when absent: CIFAR-100 images resized to 16x16)",
        ),
        DatasetSpec("ptb", "text", (35,), 10000, "Penn Treebank (Mikolov), 10k-word vocabulary, sequences of 35 tokens"),
        DatasetSpec(
            "wikitext2",
            "text",
            (35,),
            33278,
            "WikiText-2, 33,278-word vocabulary (NAS-Bench-NLP's training set; no text files here)",
        ),
    )
}

_ALIASES = {"cifar-10": "cifar10", "cifar-100": "cifar100", "imagenet16": "imagenet16-120", "imagenet": "imagenet16-120"}


#: the forms of a user dataset's name (see :mod:`nas.userdata`): form -> what it reads
USER_FORMS: dict[str, str] = {
    "imagefolder:PATH[?size=N]": "your images, one folder per class, resized to NxN RGB (default 32)",
    "npz:PATH": "your NumPy .npz file with images 'x' and integer labels 'y'",
    "cifar:DIR": "your CIFAR-style pickles (data_batch_* or train, with data and labels or fine_labels)",
}
#: the prefixes of user dataset names, before the colon
USER_SCHEMES = tuple(form.split(":", 1)[0] for form in USER_FORMS)


def is_user_dataset(name: str) -> bool:
    """Whether ``name`` names a dataset of your own (``imagefolder:...``, ``npz:...``, ``cifar:...``)."""
    scheme, colon, _ = name.partition(":")
    return bool(colon) and scheme.lower() in USER_SCHEMES


def dataset_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` (case-insensitive, common aliases accepted).

    A user dataset's name (:func:`is_user_dataset`) is read with :func:`nas.userdata.user_spec`:
    its spec's name is the canonical form (absolute path, options spelled out), which gives the
    same spec again.
    """
    if is_user_dataset(name):
        from nas.userdata import user_spec

        return user_spec(name)
    key = _ALIASES.get(name.lower(), name.lower())
    try:
        return DATASETS[key]
    except KeyError:
        forms = ", ".join(form.split("[")[0] for form in USER_FORMS)
        raise NasError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, or your own data as {forms}") from None


def builds_for(datasets: Iterable[str], spec: DatasetSpec) -> bool:
    """Whether a space that builds networks for ``datasets`` builds one for ``spec``.

    True for a dataset it names, and for a user dataset of a kind one of them has (a space
    built for CIFAR-10 takes any image dataset of your own).
    """
    names = tuple(datasets)
    if spec.name in names:
        return True
    kinds = {DATASETS[name].kind for name in names if name in DATASETS}
    return is_user_dataset(spec.name) and spec.kind in kinds
