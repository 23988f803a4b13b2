"""Neural surrogates (Flax NNX) — arrives with the surrogate issue."""
