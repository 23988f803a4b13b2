"""Hydra glue of the command-line apps: where the configs are, the schema, overrides checked.

The configs ship inside the package (``steeltwin.conf``, the top-level ``conf/`` folder), so
Hydra finds them through the package search path ``pkg://steeltwin.conf`` wherever steeltwin
is installed (editable or from a wheel) and whatever the working directory.

A misspelt key (``solver.dtt=10``) would first meet Hydra's "Key 'dtt' is not in struct ... use
+solver.dtt" (the hint is wrong: the key does not exist). :func:`override_key_error` composes
the overrides first and turns that case into the project's own message, which names the valid
keys and the closest one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from hydra import compose as _compose
from hydra import initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from steeltwin.engine.config import SCHEMA_NAME, SimulateConfig

CONF_MODULE = "steeltwin.conf"
CONFIG_PATH = f"pkg://{CONF_MODULE}"  # the config_path of every @hydra.main
# The installed conf/ folder (a real directory for a wheel or an editable install), for
# reading a YAML file directly.
CONF_DIR = Path(str(resources.files(CONF_MODULE)))


def conf_file(relative: str) -> str:
    """The absolute path of a file shipped in ``conf/`` (``examples/slab_readings.csv``).

    Registered as the resolver ``${conf_file:examples/slab_readings.csv}``, so a config can name
    a shipped example that works from any directory."""
    return str(CONF_DIR / relative)


def register_configs() -> None:
    """Register the simulate schema and the ``conf_file`` resolver (idempotent)."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=SimulateConfig)
    if not OmegaConf.has_resolver("conf_file"):
        OmegaConf.register_new_resolver("conf_file", conf_file)


def compose(overrides: Sequence[str] = (), config_name: str = "simulate") -> DictConfig:
    """The config an app would run with these overrides (no Hydra run directory)."""
    register_configs()
    with initialize_config_module(config_module=CONF_MODULE, version_base="1.3"):
        return _compose(config_name=config_name, overrides=list(overrides))


_NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'")
# OmegaConf's two wordings of "no such key": a plain config in struct mode, a structured one.
_UNKNOWN_KEY = re.compile(r"Key '[^']*' (is )?not in (struct|')")


def _plain_overrides(args: Sequence[str]) -> list[str] | None:
    """The overrides among the command-line args, sweeps by their first value."""
    words = [a for a in args if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(words)
    except HydraException:
        return None  # a syntax error: Hydra's own message says where
    # A sweep (solver.dt=10,30) is checked with its first value: the keys are what matter.
    return [str(o.input_line) if not o.is_sweep_override()
            else f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}"
            for o in parsed if not o.key_or_group.startswith("hydra")]


def override_key_error(config_name: str, args: Sequence[str]) -> str | None:
    """The project's message for an override of a key the config does not have, else None.

    Composes the config with the command line's overrides (sweeps by their first value); only the
    "not in struct" failure is translated, every other problem is left to Hydra."""
    overrides = _plain_overrides(args)
    if not overrides:
        return None
    if GlobalHydra.instance().is_initialized():
        return None  # inside another Hydra context (a test's compose): nothing to check
    try:
        compose(overrides, config_name)
        return None
    except HydraException as err:
        text = f"{err} {err.__cause__ or ''}"
        match = _NOT_IN_STRUCT.search(text)
        if match is None or not _UNKNOWN_KEY.search(text):
            return None
        key = match.group(1)
    rest = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~") == key]
    try:
        cfg = compose(rest, config_name)
    except HydraException:
        return None
    return unknown_key_message(cfg, key)


def unknown_key_message(cfg: DictConfig, key: str) -> str:
    """``solver.dtt is not a key of solver: expected one of scheme, dt, ...; did you mean
    solver.dt?``, for the deepest existing parent of ``key``."""
    parts = key.split(".")
    parent, depth = cfg, 0
    for part in parts[:-1]:
        node = parent.get(part)
        if not isinstance(node, DictConfig):
            break
        parent, depth = node, depth + 1
    where = ".".join(parts[:depth])
    valid = sorted(str(k) for k in parent.keys() if str(k) != "hydra")
    wrong = parts[depth]
    close = difflib.get_close_matches(wrong, valid, n=1)
    prefix = f"{where}." if where else ""
    guess = f"; did you mean {prefix}{close[0]}?" if close else "; check the spelling"
    return (f"{key} is not a known key{' of ' + where if where else ''}: expected one of "
            f"{', '.join(valid)}{guess}")
