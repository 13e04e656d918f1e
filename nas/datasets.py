"""Names and shapes of the datasets the spaces are built for.

A :class:`DatasetSpec` is what a space needs to build a network (input shape, number of
classes); reading the data itself is :mod:`nas.data`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def dataset_spec(name: str) -> DatasetSpec:
    """The spec for ``name`` (case-insensitive, common aliases accepted)."""
    key = _ALIASES.get(name.lower(), name.lower())
    try:
        return DATASETS[key]
    except KeyError:
        raise NasError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
