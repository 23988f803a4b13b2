"""steeltwin surrogates: Flax NNX networks that advance a temperature field over a macro step.

- ``MLP``, ``FNO``: the networks (``_networks``).
- ``SurrogateConfig``, ``build_ensemble``, ``Surrogate``: an ensemble with its normalisation
  and training envelope; ``step`` / ``rollout`` give the ensemble mean and spread.
- ``save_checkpoint`` / ``checkpoint_manager`` / ``restore_training``: the training side
  of the same checkpoint layout (``BEST`` weights, ``CHECKPOINTS`` resume state).
- ``load_surrogate(run_dir)``: restore a trained surrogate for inference from its checkpoint
  directory alone (Orbax; no Hydra, no training code, no pickle).
"""

from ._checkpoint import (
    BEST,
    CALIBRATION,
    CHECKPOINTS,
    checkpoint_manager,
    load_surrogate,
    read_metadata,
    restore_training,
    save_checkpoint,
)
from ._networks import FNO, MLP, NETWORKS
from ._normalize import Envelope, Normalizer
from ._surrogate import Surrogate, SurrogateConfig, build_ensemble, ensemble_step, rollout

__all__ = ["BEST", "CALIBRATION", "CHECKPOINTS", "FNO", "MLP", "NETWORKS", "Envelope",
           "Normalizer", "Surrogate", "SurrogateConfig", "build_ensemble", "checkpoint_manager",
           "ensemble_step", "load_surrogate", "read_metadata", "restore_training", "rollout",
           "save_checkpoint"]
