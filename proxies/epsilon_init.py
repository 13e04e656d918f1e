"""epsilon_init: the epsilon statistic of two random initialisations (the epsilon paper's initialisation ablation).

Gracheva's paper (its Table 9; the author's ``NAS-Bench-201/Ablations.ipynb``, "Initialisation
algorithm") asks whether the two *constant* shared weights matter, or whether any two
initialisations would do: the network is initialised twice by a random scheme instead of twice
by a constant, and the epsilon statistic of :mod:`nas.proxies.epsilon` is computed from the two
outputs (each min-max normalised, exact zeros missing, mean absolute difference over the mean).
The paper finds Spearman about 0.0-0.1 on NAS-Bench-201 CIFAR-10 for every scheme: the constants
are what make epsilon work. This proxy exists to reproduce that result, not to rank architectures.

The schemes (setting ``init``), as the author's notebook applies them:

* convolution weights: ``uniform`` U(0, 1); ``normal`` N(0, 1); ``kaiming_uniform``
  (PyTorch's defaults: fan-in, leaky-ReLU gain with ``a = 0``); ``kaiming_normal`` (fan-out,
  ReLU gain); ``orthogonal`` (gain 1); convolution biases 0;
* batch-normalisation (and other normalisation) scales 1, shifts 0;
* linear layers: weights N(0, 0.01^2), biases 0, whatever the scheme.

A module of any other kind that owns parameters (embeddings, recurrent layers, ...) is an error:
the ablation is defined for convolutional networks. Draw ``k`` (0, 1) of a module comes from a
generator seeded by ``position_seed(position_seed(seed, f"epsilon_init draw {k}"), name +
"#epsilon_init")``, so the score depends only on the seed and the architecture (not on the order
modules were built). The forward pass is as epsilon's:
no gradients, batch normalisation with batch statistics, on the paper's batch of 256. Random
weights: the score is not shared between isomorphic architectures (invariance ``exact``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from nas.errors import NasError
from nas.initialisation import position_seed
from nas.proxies import register_proxy
from nas.proxies.base import Batch, Proxy, ProxyContext, ProxyResult
from nas.proxies.epsilon import PRECISIONS, deterministic_train_mode, epsilon_from_outputs, first_tensor

#: the schemes of setting ``init``: how a convolution's weight is drawn
SCHEMES: dict[str, Callable[[torch.Tensor, torch.Generator], Any]] = {
    "uniform": lambda weight, generator: nn.init.uniform_(weight, 0.0, 1.0, generator=generator),
    "normal": lambda weight, generator: nn.init.normal_(weight, 0.0, 1.0, generator=generator),
    "kaiming_uniform": lambda weight, generator: nn.init.kaiming_uniform_(weight, generator=generator),
    "kaiming_normal": lambda weight, generator: nn.init.kaiming_normal_(
        weight, mode="fan_out", nonlinearity="relu", generator=generator
    ),
    "orthogonal": lambda weight, generator: nn.init.orthogonal_(weight, generator=generator),
}
#: the standard deviation of linear layers' weights, whatever the scheme
LINEAR_STD = 0.01
_NORMS = (_BatchNorm, nn.GroupNorm, nn.LayerNorm)


def initialise(model: nn.Module, scheme: str, seed: int) -> None:
    """Initialise ``model`` by ``scheme`` (see the module's documentation), each module from its own position seed."""
    draw = SCHEMES[scheme]
    with torch.no_grad():
        for name, module in model.named_modules():
            if next(module.parameters(recurse=False), None) is None:
                continue
            generator = torch.Generator().manual_seed(position_seed(seed, f"{name}#epsilon_init"))
            if isinstance(module, _ConvNd):
                draw(module.weight, generator)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, LINEAR_STD, generator=generator)
            elif isinstance(module, _NORMS):
                if module.weight is not None:
                    module.weight.fill_(1.0)
            else:
                raise NasError(
                    f"epsilon_init: module {name or '<root>'!r} ({type(module).__name__}) owns parameters but is not a "
                    "convolution, linear or normalisation layer; the initialisation ablation is defined for those only"
                )
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()


@register_proxy("epsilon_init")
class EpsilonInit(Proxy):
    """The epsilon statistic of two random initialisations of one scheme (the epsilon paper's Table 9).

    Settings: ``init`` (one of :data:`SCHEMES`, default ``normal``) and ``precision``
    (``float32`` as the paper, or ``float64``).
    """

    name = "epsilon_init"
    higher_is_better = True
    batch_size = 256  # epsilon's batch
    version = "1"
    needs = frozenset({"data"})
    defaults = {"init": "normal", "precision": "float32"}
    summary = "epsilon's statistic from two random initialisations of one scheme (the epsilon paper's ablation)"

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings["init"] not in SCHEMES:
            raise NasError(f"epsilon_init: init must be one of {', '.join(SCHEMES)}, got {self.settings['init']!r}")
        if self.settings["precision"] not in PRECISIONS:
            raise NasError(
                f"epsilon_init: precision must be one of {', '.join(PRECISIONS)}, got {self.settings['precision']!r}"
            )

    def score(self, model: nn.Module, batch: Batch, context: ProxyContext) -> ProxyResult:
        """The epsilon statistic of ``model``'s outputs on ``batch`` after two draws of the scheme."""
        dtype = PRECISIONS[self.settings["precision"]]
        model = model.to(dtype)
        inputs = batch.inputs.to(dtype)
        deterministic_train_mode(model)
        outputs = []
        with torch.no_grad():
            for draw in range(2):
                initialise(model, self.settings["init"], position_seed(context.seed, f"epsilon_init draw {draw}"))
                outputs.append(first_tensor(model(inputs)).detach().flatten().clone())
        return epsilon_from_outputs(outputs, None, self.settings["precision"])
