"""``estimate.png`` of a twin replay: estimate +- 2 sigma against the readings.

Top: the surface readings (accepted dots, rejected crosses) with the estimated face
temperature band of the matching face (extrapolated from the outer cells' mean and spread),
and the estimated centre temperature +- 2 sigma (degC against h). Bottom: the estimated
exchange-factor multipliers per face +- 2 sigma.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

KELVIN = 273.15


def _centre(T: np.ndarray) -> np.ndarray:
    n = T.shape[-1]
    lo, hi = (n // 2 - 1, n // 2 + 1) if n % 2 == 0 else (n // 2, n // 2 + 1)
    return T[..., lo:hi].mean(-1)


def plot_estimate(path: str | os.PathLike[str], a: Mapping[str, np.ndarray],
                  readings: Sequence[Any], rejected: Mapping[str, str],
                  title: str = "") -> Path:
    """Write the figure; ``a`` holds times (s), field_mean/std [n_c, cells] K, scale and
    scale_std [n_c, 2]."""
    t = np.asarray(a["times"]) / 3600.0
    mean, std = np.asarray(a["field_mean"]), np.asarray(a["field_std"])
    fig = Figure(figsize=(9, 7), layout="constrained")
    ax, bx = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.4])
    colours = {"pyrometer_top": "tab:red", "pyrometer_bottom": "tab:blue",
               "thermocouple": "tab:green"}
    for face, (sensor, cell) in enumerate((("pyrometer_bottom", 0), ("pyrometer_top", -1))):
        # Face temperature ~ 1.5 T_outer - 0.5 T_next (second-order extrapolation to the face).
        ts = 1.5 * mean[:, cell] - 0.5 * mean[:, cell + (1 if face == 0 else -1)]
        s = std[:, cell]
        ax.fill_between(t, ts - 2 * s - KELVIN, ts + 2 * s - KELVIN, color=colours[sensor],
                        alpha=0.2, lw=0)
        ax.plot(t, ts - KELVIN, color=colours[sensor], lw=1, label=f"{sensor[10:]} face, estimate")
    c, cs = _centre(mean), _centre(std)
    ax.fill_between(t, c - 2 * cs - KELVIN, c + 2 * cs - KELVIN, color="k", alpha=0.2, lw=0)
    ax.plot(t, c - KELVIN, color="k", lw=1.5, label="centre, estimate +- 2 sigma")
    for sensor, col in colours.items():
        rs = [r for r in readings if r.sensor == sensor]
        ok = [r for r in rs if r.id not in rejected]
        bad = [r for r in rs if r.id in rejected]
        if ok:
            ax.plot([r.time / 3600 for r in ok], [r.value - KELVIN for r in ok], ".",
                    color=col, ms=2, label=f"{sensor} readings")
        if bad:
            ax.plot([r.time / 3600 for r in bad], [r.value - KELVIN for r in bad], "x",
                    color=col, ms=6, label=f"{sensor} rejected ({len(bad)})")
    ax.set_ylabel("temperature (degC)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    sc, ss = np.asarray(a["scale"]), np.asarray(a["scale_std"])
    for face, name in enumerate(("bottom", "top")):
        col = "tab:blue" if face == 0 else "tab:red"
        bx.fill_between(t, sc[:, face] - 2 * ss[:, face], sc[:, face] + 2 * ss[:, face],
                        color=col, alpha=0.2, lw=0)
        bx.plot(t, sc[:, face], color=col, label=f"exchange-factor multiplier, {name}")
    bx.axhline(1.0, color="0.5", lw=0.5)
    bx.set_xlabel("time (h)")
    bx.set_ylabel("multiplier")
    bx.legend(fontsize=7)
    out = Path(path)
    fig.savefig(out, dpi=110)
    return out
