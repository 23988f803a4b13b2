"""Plots of a result (matplotlib, no pyplot state: works headless and in threads).

- ``temperatures.png``: gas, top and bottom surface, mean and centre temperature against time
  (h, degC), and below it the surface - centre difference and the field's spread (K).
- ``field.png`` (2D/3D): the field at three times (when it is least uniform, halfway from there
  to the end, and at the discharge / end) with non-metal cells blank and the centre cell(s)
  marked; 3D shows the vertical mid-plane (x, z) at the middle of y.
- ``stress.png`` (runs with ``stress`` on): slab: the through-thickness stress profile at a
  few times (including the worst and the last) beside the largest utilisation against time;
  2D: the von Mises field at the worst time beside the utilisation against time.
All functions take the mapping of :func:`steeltwin.engine.io.read_result` (or ``result_arrays``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._series import centre_cells, series

KELVIN = 273.15


def plot_temperatures(result: Mapping[str, Any], path: str | os.PathLike[str],
                      title: str = "", gas_label: str = "gas / ambient",
                      zones: Sequence[tuple[str, float, float]] = ()) -> Path:
    """Temperature histories (degC) against time (h); returns the PNG path.

    Args:
        result: the mapping of :func:`steeltwin.engine.io.read_result`.
        path: PNG to write.
        title: figure title.
        gas_label: legend label of the gas temperature of exchange faces.
        zones: optional furnace zones as (name, start s, end s), marked along the top.
    """
    s = series(result)
    t = s["times_h"]
    kinds = dict(zip(result["faces"], result["face_kinds"], strict=True))
    fig = Figure(figsize=(9.0, 7.0), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(3.0, 1.4))
    shown: list[np.ndarray] = []
    for name, gas in s["gas"].items():
        if kinds[name] not in ("exchange", "fixed") or any(np.array_equal(gas, g) for g in shown):
            continue
        same = [n for n, g in s["gas"].items()
                if np.array_equal(g, gas) and kinds[n] == kinds[name]]
        label = gas_label if kinds[name] == "exchange" else "fixed surface"
        if len(same) < len(s["gas"]):
            label += f" ({', '.join(same)})"
        ax.plot(t, gas - KELVIN, color="firebrick", ls="--", lw=1.4, alpha=0.8 if shown else 1.0,
                label=label)
        shown.append(gas)
    lines = [("top surface", s["faces"].get("top"), "darkorange", "-"),
             ("bottom surface", s["faces"].get("bottom"), "royalblue", "-"),
             ("mean", s["mean"], "seagreen", "-"),
             ("centre", s["centre"], "black", "-.")]
    for label, y, colour, ls in lines:
        if y is not None:
            ax.plot(t, y - KELVIN, color=colour, ls=ls, lw=1.8,
                    label=f"{label}: {y[-1] - KELVIN:.0f} °C at end")
    for zone, start, _end in zones:
        if not t[0] <= start / 3600.0 < t[-1]:
            continue  # the run ended before this zone
        if start > 0:
            ax.axvline(start / 3600.0, color="gray", lw=0.6, ls=":")
        ax.annotate(zone, (start / 3600.0, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="dimgray",
                    annotation_clip=True)
    ax.set_ylabel("temperature (°C)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    diff = s["surface"] - s["centre"]
    k = int(np.argmax(np.abs(diff)))
    ax2.plot(t, diff, color="darkorange", lw=1.6, label="surface (mean of faces) − centre")
    ax2.plot(t, s["max"] - s["min"], color="slategray", lw=1.6, label="max − min of the field")
    ax2.plot(t[k], diff[k], "o", color="darkorange")
    ax2.annotate(f"{diff[k]:+.0f} K at {t[k]:.2f} h", (t[k], diff[k]), xytext=(6, 4),
                 textcoords="offset points", fontsize=9)
    ax2.axhline(0.0, color="black", lw=0.6)
    ax2.set_ylabel("difference (K)")
    ax2.set_xlabel("time (h)")
    ax2.set_xlim(t[0], t[-1])
    ax2.grid(alpha=0.3)
    ax2.legend(loc="best", fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _section(result: Mapping[str, Any], index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
    """2D slice of field ``index`` (K), its mask, and the axis names (3D: the y mid-plane)."""
    T = np.asarray(result["temperature"][index], np.float64)
    mask = np.asarray(result["mask"], bool)
    if T.ndim == 3:
        j = T.shape[1] // 2
        return T[:, j, :], mask[:, j, :], "x", "z"
    return T, mask, "x", "y"


def plot_field(result: Mapping[str, Any], path: str | os.PathLike[str], title: str = "",
               n_snapshots: int = 3) -> Path:
    """Snapshots of a 2D field (3D: mid-plane) in degC: at the largest max - min of the field,
    evenly after it, and at the end of the run, on one colour scale (one colour means one
    temperature in every panel; each title gives the panel's own range)."""
    times = np.asarray(result["times"])
    n_t = len(times)
    s = series(result)
    steep = int(np.argmax(s["max"] - s["min"]))  # when the field is least uniform
    picks = sorted({min(n_t - 1, round(steep + f * (n_t - 1 - steep)))
                    for f in np.linspace(0.0, 1.0, n_snapshots)})
    spacing = np.asarray(result["cell_size"]) * 1e3
    mask3 = np.asarray(result["mask"], bool)
    centre = centre_cells(mask3, np.asarray(result["cell_size"]))
    fig = Figure(figsize=(4.0 * len(picks) + 1.0, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(picks)))
    sections = [_section(result, i) for i in picks]
    fields = [np.ma.masked_where(~mask, T - KELVIN) for T, mask, _, _ in sections]
    vmin = float(min(f.min() for f in fields))
    vmax = float(max(f.max() for f in fields))
    im = None
    for ax, i, (T, _mask, xa, ya), field in zip(axes, picks, sections, fields, strict=True):
        a0, a1 = (0, 2) if T.ndim == 2 and mask3.ndim == 3 else (0, 1)
        extent = (0.0, T.shape[0] * spacing[a0], 0.0, T.shape[1] * spacing[a1])
        im = ax.imshow(field.T, origin="lower", extent=extent, cmap="inferno",
                       interpolation="nearest", vmin=vmin, vmax=max(vmax, vmin + 1e-6))
        if mask3.ndim == 2:
            cx, cy = np.nonzero(centre)
            ax.plot((cx + 0.5) * spacing[0], (cy + 0.5) * spacing[1], "+", color="cyan", ms=6)
        ax.set_title(f"t = {times[i] / 3600:.2f} h: {field.min():.0f}–{field.max():.0f} °C",
                     fontsize=10)
        ax.set_xlabel(f"{xa} (mm)")
        ax.set_ylabel(f"{ya} (mm)")
    assert im is not None
    fig.colorbar(im, ax=list(axes), shrink=0.85, label="°C (one scale for every panel)")
    if title:
        fig.suptitle(title + (" — mid-plane y" if mask3.ndim == 3 else ""), fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_stress(result: Mapping[str, Any], path: str | os.PathLike[str], title: str = "") -> Path:
    """Thermal stress of a run (``result["stress"]``, Pa): profile (slab) or von Mises field
    (2D) on the left, the largest utilisation vm / f_y(T) against time on the right."""
    st = result["stress"]
    a = st["attrs"]
    times = np.asarray(result["times"])
    t_h = times / 3600.0
    n_t = len(times)
    worst = int(a["worst_time_index"])
    mask = np.asarray(result["mask"], bool)
    u = np.asarray(st["utilisation"], np.float64)
    u_max = np.max(np.where(mask, u, 0.0).reshape(n_t, -1), axis=1)
    fig = Figure(figsize=(11.0, 4.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=(1.15, 1.0))
    if "sigma" in st:
        sigma = np.asarray(st["sigma"], np.float64) / 1e6
        z = np.asarray(result["coordinates"]["x"]) * 1e3
        picks = sorted({0 if n_t == 1 else max(1, n_t // 4), n_t // 2, worst, n_t - 1})
        colours = [f"C{i}" for i in range(len(picks))]
        for i, colour in zip(picks, colours, strict=True):
            label = f"t = {t_h[i]:.2f} h" + (" (worst)" if i == worst else "") + (
                " (end)" if i == n_t - 1 else "")
            ax.plot(sigma[i], z, color=colour, lw=2.2 if i == worst else 1.5, label=label)
        ax.axvline(0.0, color="black", lw=0.6)
        ax.set_xlabel("σxx = σyy (MPa; + tension)")
        ax.set_ylabel("height through the thickness (mm)")
        ax.set_title(f"through-thickness stress ({a['model']}, {a.get('plate_mode', '')})",
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    else:
        vm = np.ma.masked_where(~mask, np.asarray(st["von_mises"][worst], np.float64) / 1e6)
        spacing = np.asarray(result["cell_size"]) * 1e3
        extent = (0.0, mask.shape[0] * spacing[0], 0.0, mask.shape[1] * spacing[1])
        im = ax.imshow(vm.T, origin="lower", extent=extent, cmap="viridis",
                       interpolation="nearest")
        i, j = (int(v) for v in np.asarray(a["worst_index"]))
        ax.plot((i + 0.5) * spacing[0], (j + 0.5) * spacing[1], "x", color="red", ms=9,
                mew=2, label=f"worst utilisation {a['worst_utilisation']:.2f}")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"von Mises at t = {t_h[worst]:.2f} h (worst time; {a['model']})",
                     fontsize=10)
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        fig.colorbar(im, ax=ax, shrink=0.85, label="von Mises (MPa)")
    thr = float(a["alert_threshold"])
    ax2.plot(t_h, u_max, color="firebrick", lw=1.8, marker="." if n_t < 40 else None,
             label="max over the section")
    ax2.axhline(thr, color="black", ls="--", lw=1.0, label=f"alert threshold {thr:g}")
    ax2.plot(t_h[worst], u_max[worst], "o", color="firebrick")
    ax2.annotate(f"{u_max[worst]:.2f} at {t_h[worst]:.2f} h"
                 + ("  ALERT" if a["alert"] else ""), (t_h[worst], u_max[worst]),
                 xytext=(6, 4), textcoords="offset points", fontsize=9)
    ax2.set_xlabel("time (h)")
    ax2.set_ylabel("utilisation  σvM / f_y(T)")
    ax2.set_ylim(0.0, max(1.1 * float(np.max(u_max)), 1.1 * thr))
    if n_t > 1:
        ax2.set_xlim(t_h[0], t_h[-1])
    ax2.grid(alpha=0.3)
    ax2.legend(loc="best", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_result(result: Mapping[str, Any], out_dir: str | os.PathLike[str], title: str = "",
                gas_label: str = "gas / ambient",
                zones: Sequence[tuple[str, float, float]] = ()) -> list[Path]:
    """All plots of a run into ``out_dir``: temperatures.png (+ field.png for 2D/3D, + stress.png
    when the result has ``stress``)."""
    out = Path(out_dir)
    paths = [plot_temperatures(result, out / "temperatures.png", title, gas_label, zones)]
    if np.asarray(result["mask"]).ndim >= 2:
        paths.append(plot_field(result, out / "field.png", title))
    if result.get("stress") is not None:
        paths.append(plot_stress(result, out / "stress.png", title))
    return paths
