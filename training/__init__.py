"""steeltwin training: datasets from the solver (``steeltwin-datagen``) and surrogate training.

- ``generate`` / ``steeltwin-datagen``: sample scenarios, solve them in batches, write HDF5
  shards with a manifest (resumable, deterministic, shardable across jobs).
- ``open_dataset``: read a dataset (all shards) as NumPy arrays, by split, and draw
  (state, inputs over a horizon, next state) training pairs.
- ``build_index`` / ``validate``: check shards against the manifest and join them.
- ``train``: fit a surrogate ensemble (Optax, Orbax checkpoints); ``initialize_distributed``
  joins a multi-host job first.
- ``passage_batch`` / ``calibrate``: whole passages of a split; the spread calibration.
- ``evaluate`` / ``format_evaluation``: accuracy, calibration and speed of a trained run.

The command-line apps over these (``steeltwin-datagen``, ``-train``, ``-evaluate``) live in
``steeltwin.engine.apps``; nothing here imports Hydra.
"""

from ._design import SPLITS, Design, Parameter, make_design
from ._evaluate import evaluate
from ._evaluate import format_report as format_evaluation
from ._generate import GenerationReport, build_design, build_manifest, build_spec, generate
from ._index import DatasetError, build_index, validate
from ._parallel import initialize_distributed
from ._passages import calibrate, passage_batch
from ._train import TrainReport, train
from .dataset import Dataset, open_dataset

__all__ = [
    "SPLITS", "Dataset", "DatasetError", "Design", "GenerationReport", "Parameter",
    "TrainReport", "build_design", "build_index", "build_manifest", "build_spec", "calibrate",
    "evaluate", "format_evaluation", "generate", "initialize_distributed", "make_design",
    "open_dataset", "passage_batch", "train", "validate",
]
