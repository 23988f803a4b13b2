"""steeltwin training: datasets from the solver (``steeltwin-datagen``) and surrogate training.

- ``generate`` / ``steeltwin-datagen``: sample scenarios, solve them in batches, write HDF5
  shards with a manifest (resumable, deterministic, shardable across jobs).
- ``open_dataset``: read a dataset (all shards) as NumPy arrays, by split, and draw
  (state, inputs over a horizon, next state) training pairs.
- ``build_index`` / ``validate``: check shards against the manifest and join them.
"""

from ._design import SPLITS, Design, Parameter, make_design
from ._generate import GenerationReport, build_design, build_manifest, build_spec, generate
from ._index import DatasetError, build_index, validate
from .dataset import Dataset, open_dataset

__all__ = [
    "SPLITS", "Dataset", "DatasetError", "Design", "GenerationReport", "Parameter",
    "build_design", "build_index", "build_manifest", "build_spec", "generate", "make_design",
    "open_dataset", "validate",
]
