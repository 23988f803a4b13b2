"""Data generation and training pipelines — arrive with the datagen and training issues."""
