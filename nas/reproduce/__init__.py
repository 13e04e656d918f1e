"""Reproducing published results: ``nas reproduce epsilon-paper``.

:mod:`nas.reproduce.published` holds the epsilon paper's published values (a data file typed in
with the printed rows they were read from); :mod:`nas.reproduce.experiments` reruns the paper's
experiments through the score store (so a second run, or one after an interruption, computes
only what is missing) and :mod:`nas.reproduce.report` writes them beside the published values.

This module stays light (no torch): ``nas reproduce --help`` lists :data:`EXPERIMENTS` from here.
"""

from __future__ import annotations

#: the experiments ``nas reproduce epsilon-paper`` runs: ``name: what it reproduces``
EXPERIMENTS: dict[str, str] = {
    "table1": "Table 1: zero-cost proxies against test accuracy on NAS-Bench-201 (CIFAR-10, CIFAR-100, ImageNet16-120)",
    "table2": "Table 2: zero-cost selection on NAS-Bench-201: the best of N = 10, 100, 1,000 by each proxy, Optimal and Random",
    "table3": "Table 3: zero-cost proxies against validation accuracy on NAS-Bench-101 (the 500-cell table)",
    "table4": "Table 4: zero-cost proxies against test perplexity on NAS-Bench-NLP (Penn Treebank)",
    "table5": "Table 5: epsilon at every weight pair of a grid on NAS-Bench-101, float32 and float64",
    "table6": "Table 6: epsilon at every weight pair of a grid on NAS-Bench-201 CIFAR-10, float32 and float64",
    "table7": "Table 7: epsilon at every weight pair of a grid on NAS-Bench-NLP Penn Treebank, float32",
    "table9": "Table 9: the epsilon statistic of two random initialisations (uniform, normal, Kaiming, orthogonal) "
    "instead of two constant weights on NAS-Bench-201 CIFAR-10",
    "table10": "Table 10: epsilon with other embedding initialisations on NAS-Bench-NLP Penn Treebank",
    "table11": "Table 11: epsilon with real and synthetic input (grey, normal, uniform, uniform+) on NAS-Bench-201 CIFAR-10",
    "fig1": "Figures 1 and 6: proxy scores against test accuracy on NAS-Bench-201, coloured by parameter count",
    "fig2": "Figure 2: epsilon against the trained metric on NAS-Bench-101 and NAS-Bench-NLP",
    "fig3": "Figure 3: best test accuracy against trained models for ageing evolution (plain, epsilon warm-up, warm-up "
    "+ move parent) and random search (plain, warm-up) on NAS-Bench-201",
    "fig4": "Figure 4: epsilon's Spearman rho with test accuracy against the batch size (8 .. 1024) on NAS-Bench-201 "
    "CIFAR-10",
    "fig5": "Figure 5: best test accuracy against trained models for ageing evolution and random search with the "
    "warm-up of every proxy of Table 1 on NAS-Bench-201",
}
#: the reproductions ``nas reproduce`` knows: ``target: summary``
TARGETS: dict[str, str] = {
    "epsilon-paper": "Gracheva, Neural Architecture Search: Two Constant Shared Weights Initialisations (arXiv:2302.04406)",
}
