"""Frozen dataclass pytrees without Flax or Equinox (the physics core depends on JAX only).

Fields marked ``static_field()`` are pytree metadata (shapes, counts, kinds): changing them
recompiles. Every other field is a leaf (physical numbers, traced): changing it never recompiles.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

import jax

T = TypeVar("T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field stored as pytree metadata (hashable, compared by value)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, static_field))
def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass registered as a JAX pytree."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
