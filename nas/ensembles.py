"""Rank combinations of several proxies over one set of architectures: vote, rank ensemble, AZ-NAS.

A combination turns the scores of its *members* (proxies) on a set of architectures into one
score per architecture, higher is better. Each member's scores are oriented first (a
lower-is-better member is negated) and then ranked *within the set*, so a combination's value
for an architecture depends on which other architectures are in the set: the architectures
compared (``nas compare``) or the candidates a search strategy ranks (``nas search``).

Three combinations, each a column of ``nas compare`` and a ``proxy:`` of ``nas search``:

* ``vote`` / ``vote(a+b+c)``: :func:`vote`, the mean fractional rank over the members that scored
  the architecture (Abdelfattah et al.'s voting, NaN members skipped);
* ``ensemble(a+b+c)``: :func:`rank_ensemble`, AZ-NAS's sum of ``log(rank / N)`` over any members,
  where an architecture keeps the ranks of the members that scored it (NaN members skipped);
* ``aznas``: :func:`aznas`, the AZ-NAS aggregate of :data:`~nas.proxies.aznas.AZNAS_MEMBERS`
  with the authors' rule for missing scores (ranked below every score).

``vote`` and ``ensemble`` without members (``nas compare`` only) combine every other plain proxy
of the list. :func:`parse_combination` reads these forms, :func:`combine` computes them.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from nas.errors import NasError
from nas.metrics import oriented_scores

#: the combinations, by the name that starts their column: what each computes, for reports
KINDS: dict[str, str] = {
    "vote": "average fractional rank",
    "ensemble": "rank ensemble (sum of log(rank / N), an architecture keeping the ranks of the members that scored it)",
    "aznas": "AZ-NAS aggregate (sum of log(rank / N), missing scores ranked worst, as the authors)",
}

_COMBINATION = re.compile(r"(?P<kind>vote|ensemble|aznas)(?:\((?P<members>[^()]*)\))?")


def is_combination(text: str) -> bool:
    """Whether ``text`` has the form of a combination (``vote``, ``ensemble(...)``, ``aznas``, ...), valid or not."""
    return _COMBINATION.fullmatch(text.strip()) is not None


def parse_combination(text: str, others: Sequence[str] = ()) -> tuple[str, tuple[str, ...]] | None:
    """``(kind, members)`` of a combination such as ``"ensemble(synflow+snip)"``; ``None`` for a plain proxy name.

    Members are separated by ``+`` and must be registered proxies, at least two different ones.
    ``vote`` and ``ensemble`` without members take ``others`` (the other plain proxies of a
    ``--proxies`` list); ``aznas`` takes no members: it is always the four of
    :data:`~nas.proxies.aznas.AZNAS_MEMBERS`. Errors are one-line :class:`NasError`\\ s.
    """
    from nas.proxies import PROXIES

    match = _COMBINATION.fullmatch(text.strip())
    if match is None:
        return None
    kind, listed = match["kind"], match["members"]
    if kind == "aznas":
        if listed is not None:
            raise NasError(f"{text!r}: aznas takes no members (it is the AZ-NAS aggregate of "
                           f"{'+'.join(aznas_members())}); use ensemble(a+b+c) for other proxies")
        return kind, aznas_members()
    members = tuple(others) if listed is None else tuple(m.strip() for m in listed.split("+") if m.strip())
    for name in members:
        try:
            PROXIES.get(name)
        except NasError as exc:
            raise NasError(f"{text!r}: {exc}") from None
    if len(members) < 2 or len(set(members)) != len(members):
        raise NasError(f"{text!r} needs at least two different proxies to combine, e.g. {kind}(synflow+snip)")
    return kind, members


def aznas_members() -> tuple[str, ...]:
    """The proxies the ``aznas`` combination ranks (:data:`nas.proxies.aznas.AZNAS_MEMBERS`)."""
    from nas.proxies.aznas import AZNAS_MEMBERS

    return AZNAS_MEMBERS


def combine(kind: str, scores: Mapping[str, ArrayLike], directions: Mapping[str, bool]) -> np.ndarray:
    """The combination ``kind`` (a key of :data:`KINDS`) of ``scores``, one value per architecture, higher is better."""
    if kind == "vote":
        return vote(scores, directions)
    if kind == "ensemble":
        return rank_ensemble(scores, directions)
    if kind == "aznas":
        return aznas(scores, directions)
    raise NasError(f"unknown combination {kind!r}; known: {', '.join(KINDS)}")


def vote(scores: Mapping[str, ArrayLike], directions: Mapping[str, bool]) -> np.ndarray:
    """Combine several proxies' scores of one set of architectures by their average rank.

    Each proxy's finite scores are oriented by ``directions`` (``higher_is_better``), ranked
    (average ranks for ties) and divided by the number of finite scores, giving a fractional
    rank in (0, 1], 1 for the proxy's best architecture. The vote is the mean fractional rank over
    the proxies that scored the architecture (NaN scores are skipped), NaN where none did.
    Higher is better. Without NaNs it orders architectures exactly as the mean rank does.
    """
    ranks = _fractional_ranks(oriented_scores(scores, directions, "a vote"))
    return _mean_over_scored(ranks)


def rank_ensemble(scores: Mapping[str, ArrayLike], directions: Mapping[str, bool]) -> np.ndarray:
    """AZ-NAS's sum of log ranks over any proxies, an architecture keeping the ranks of the members that scored it.

    For each member ``m``, its finite scores, oriented by ``directions`` (``higher_is_better``),
    are ranked among themselves: ``r_m(a)`` is the average rank of architecture ``a`` (ties share
    the mean of the ranks they span; 1 = worst, ``n_m`` = best) and ``n_m`` the number of
    architectures ``m`` scored. With ``M`` the number of members and ``S(a)`` the members that
    scored ``a``::

        ensemble(a) = M * mean over m in S(a) of log(r_m(a) / n_m)        (NaN when S(a) is empty)

    that is, the sum over all members of ``log(rank / N)``, a member's missing term replaced by the
    mean of the architecture's present terms. Without missing scores it equals AZ-NAS's aggregate
    (:func:`aznas`) of the same members. Values are at most 0 (best on every member that scored
    the architecture); higher is better. A NaN never erases an architecture: one scored by a single
    member is ranked by that member alone. The ranks are taken within the given set, so the
    value of an architecture depends on the other architectures of the set.
    """
    ranks = _fractional_ranks(oriented_scores(scores, directions, "a rank ensemble"))
    logs = {name: np.log(values) for name, values in ranks.items()}  # ranks are in (0, 1] or NaN
    return len(ranks) * _mean_over_scored(logs)


def aznas(scores: Mapping[str, ArrayLike], directions: Mapping[str, bool]) -> np.ndarray:
    """The AZ-NAS aggregate with the authors' rule: a missing score ranks below every finite one.

    :func:`nas.proxies.aznas.aznas_aggregate`: the sum over members of ``log(rank / N)``, ``N``
    the size of the set, ranks over every architecture with missing (NaN) scores tied at the
    bottom; finite everywhere. Unlike :func:`rank_ensemble`, an architecture a member could not
    score gets that member's worst rank instead of keeping only its other members' ranks.
    """
    from nas.proxies.aznas import aznas_aggregate

    return aznas_aggregate(scores, directions)


def _fractional_ranks(oriented: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each member's rank / (number of finite scores) among its finite scores (1 = best), NaN where missing."""
    ranks = {}
    for name, values in oriented.items():
        finite = np.isfinite(values)
        rank = np.full(len(values), np.nan)
        if finite.any():
            rank[finite] = stats.rankdata(values[finite]) / np.count_nonzero(finite)
        ranks[name] = rank
    return ranks


def _mean_over_scored(values: Mapping[str, np.ndarray]) -> np.ndarray:
    """The mean per architecture of the members' values, skipping NaNs; NaN where every member is NaN."""
    stacked = np.vstack(list(values.values()))
    present = np.isfinite(stacked)
    counts = present.sum(axis=0)
    total = np.where(present, stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
