"""steeltwin surrogates: Flax NNX networks that advance a temperature field over a macro step.

- ``MLP``, ``FNO``: the networks (``_networks``).
- ``SurrogateConfig``, ``build_ensemble``, ``Surrogate``: an ensemble with its normalisation
  and training envelope; ``step`` / ``rollout`` give the ensemble mean and spread.
- ``load_surrogate(run_dir)``: restore a trained surrogate for inference from its checkpoint
  directory alone (Orbax; no Hydra, no training code, no pickle).
"""

from ._checkpoint import load_surrogate
from ._networks import FNO, MLP, NETWORKS
from ._normalize import Envelope, Normalizer
from ._surrogate import Surrogate, SurrogateConfig, build_ensemble, ensemble_step, rollout

__all__ = ["FNO", "MLP", "NETWORKS", "Envelope", "Normalizer", "Surrogate", "SurrogateConfig",
           "build_ensemble", "ensemble_step", "load_surrogate", "rollout"]
