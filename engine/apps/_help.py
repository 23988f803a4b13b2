"""``--help`` of each app: what it does, its own config groups and their options, the units,
and the config it would run with (generated from ``conf/``, so it cannot go stale).

Hydra's own help lists every group under the search path (simulate showed data, model,
training, twin ...); this one lists the groups of the app's defaults list only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import yaml
from omegaconf import OmegaConf

from ._hydra import CONF_DIR, compose


def app_groups(config_name: str) -> list[tuple[str, str | None]]:
    """(group, default option) of a primary config's defaults list, following plain configs
    it includes (``evaluate`` includes ``train``); the schema and ``_self_`` are left out."""
    text = (CONF_DIR / f"{config_name}.yaml").read_text(encoding="utf-8")
    out: list[tuple[str, str | None]] = []
    for entry in yaml.safe_load(text).get("defaults", []):
        if isinstance(entry, dict):
            (group, option), = entry.items()
            if not str(group).startswith(("hydra", "override")):
                out.append((str(group), None if option is None else str(option)))
        elif entry != "_self_" and (CONF_DIR / f"{entry}.yaml").is_file():
            out.extend(app_groups(str(entry)))
    return out


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def app_help(prog: str, config_name: str, description: str,
             overrides: Sequence[str] = ()) -> str:
    """The help text of one app (with the config composed from ``overrides``)."""
    lines = [textwrap.fill(f"{prog}: {description.strip()}", 100), "",
             f"usage: {prog} [group=option ...] [key=value ...] [-m for a sweep]", "",
             "Config groups (group=option; the default is marked *):"]
    for group, default in app_groups(config_name):
        options = ", ".join(f"{o}*" if o == default else o for o in group_options(group))
        lines.append(f"  {group:<12} {options}")
    notes = ["Units: lengths m, times s, temperatures degC (K inside the engine and in result "
             "files), heat transfer coefficients W/(m^2 K), fluxes W/m^2; the YAML files in "
             "conf/ comment each key.",
             "Outputs: outputs/<app>/<date_time>/ unless given; each run folder keeps its "
             "printed summary as summary.txt.",
             "Exit status: 0 done, 2 invalid config (nothing computed), 1 anything else."]
    lines += ["", *(textwrap.fill(n, 100, subsequent_indent="  ") for n in notes),
              "", "Config with these overrides (key=value changes any of it):", ""]
    cfg = compose(list(overrides), config_name)
    lines.append(OmegaConf.to_yaml(cfg, resolve=False).rstrip())
    lines += ["", "Hydra's own flags (--cfg job, --multirun, --info ...): --hydra-help"]
    return "\n".join(lines)
