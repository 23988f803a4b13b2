"""The run summary: a few scalars (degC, K, h) computed from the result, and how to print it.

- ``end_surface_C``: mean of the face temperatures (weighted by face area) at the end, degC;
  ``end_top_C`` / ``end_bottom_C`` the top and bottom face groups.
- ``end_centre_C``: the metal cell(s) nearest the centroid; ``end_mean_C`` the mean of metal cells.
- ``end_spread_K``: max - min of the field at the end (the soak temperature difference).
- ``max_surface_centre_K`` and ``max_surface_centre_time_h``: the largest surface - centre
  difference over the saved times (signed: positive while heating) and when it occurred.
- ``energy_balance_error``: |dH - sum(boundary heat)| / max(|dH|, |sum(boundary heat)|):
  round-off except with ``solver.linear_solver=adi`` in 2D/3D, where it follows the splitting
  residual.
- ``max_residual_K``: the largest unconverged implicit residual (``Trajectory.residual``); above
  5 K the printout warns (lower ``solver.dt`` or raise ``solver.iterations``).
- with ``stress`` on (``_stress.stress_summary``): ``stress_max_utilisation`` (von Mises /
  f_y(T)) with ``stress_worst_time_h`` and ``stress_worst_<axis>_mm`` (cell centre), the
  ``stress_alert`` flag, ``stress_max_tensile_MPa`` / ``stress_max_compressive_MPa`` (largest /
  smallest principal stress over the metal and the saved times) and, for ``plastic``, the
  residual stress at the end (``stress_residual_von_mises_MPa``; slab:
  ``stress_residual_surface_MPa``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from steeltwin.engine.io import series

from ._stress import format_stress

KELVIN = 273.15
RESIDUAL_WARN_K = 5.0  # K: warn above this (H-beam in air: 3.5 K at dt=30 s changes results <1 K)


def summarize(result: Mapping[str, Any]) -> dict[str, Any]:
    """Summary scalars of a result mapping (see the module docstring)."""
    s = series(result)
    diff = s["surface"] - s["centre"]
    k = int(np.argmax(np.abs(diff)))
    dH = float(result["enthalpy"][-1] - result["enthalpy"][0])
    Q = float(np.sum(np.asarray(result["boundary_heat"], np.float64)))
    scale = max(abs(dH), abs(Q), 1e-300)
    out: dict[str, Any] = {
        "end_time_h": float(s["times_h"][-1]),
        "end_surface_C": float(s["surface"][-1] - KELVIN),
    }
    for face in ("top", "bottom"):
        if face in s["faces"]:
            out[f"end_{face}_C"] = float(s["faces"][face][-1] - KELVIN)
    out.update({
        "end_centre_C": float(s["centre"][-1] - KELVIN),
        "end_mean_C": float(s["mean"][-1] - KELVIN),
        "end_spread_K": float(s["max"][-1] - s["min"][-1]),
        "max_surface_centre_K": float(diff[k]),
        "max_surface_centre_time_h": float(s["times_h"][k]),
        "energy_balance_error": abs(dH - Q) / scale,
        "max_residual_K": float(np.max(result["residual"], initial=0.0)),
        "metal_cells": int(np.count_nonzero(result["mask"])),
    })
    return out


def format_summary(summary: Mapping[str, Any], furnace: bool = True) -> str:
    """The summary as the app prints it."""
    at = "discharge" if furnace else "end"
    faces = ", ".join(f"{f} {summary[f'end_{f}_C']:.1f}" for f in ("top", "bottom")
                      if f"end_{f}_C" in summary)
    rows = [
        f"{summary.get('description', 'steeltwin run')}",
        f"  {at} at {summary['end_time_h']:.2f} h",
        f"    surface (mean of faces)  {summary['end_surface_C']:8.1f} degC"
        + (f"   ({faces})" if faces else ""),
        f"    centre                   {summary['end_centre_C']:8.1f} degC",
        f"    mean                     {summary['end_mean_C']:8.1f} degC",
        f"    soak dT (max - min)      {summary['end_spread_K']:8.1f} K",
        f"  largest surface - centre   {summary['max_surface_centre_K']:+8.1f} K at "
        f"{summary['max_surface_centre_time_h']:.2f} h",
        f"  energy balance error       {summary['energy_balance_error']:8.1e} (relative)"
        + (f"; max implicit residual {summary['max_residual_K']:.2g} K"
           if summary.get("max_residual_K", 0.0) > 0 else ""),
    ]
    rows.extend(format_stress(summary))
    if summary.get("max_residual_K", 0.0) > RESIDUAL_WARN_K:
        rows.append(f"  WARNING: the implicit iterations did not converge (residual up to "
                    f"{summary['max_residual_K']:.3g} K): lower solver.dt or raise "
                    "solver.iterations")
    if "wall_time_s" in summary:
        rows.append(f"  wall time                  {summary['wall_time_s']:8.1f} s "
                    f"({summary.get('steps', '?')} steps of {summary.get('dt_s', 0):.3g} s, "
                    "incl. compilation)")
    return "\n".join(rows)
