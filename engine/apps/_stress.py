"""The thermal-stress step of a run: stress at the saved times from the computed temperatures.

``compute_stress`` turns a :class:`StressJob` and ``Trajectory.temperature`` into the ``stress``
mapping the result file and the plots use (NumPy arrays, Pa, [n_t, *shape]):

- slab (1D, a plate through its thickness): ``sigma`` (sigma_xx = sigma_yy; sigma_zz = 0);
- 2D section: ``sxx``, ``syy``, ``sxy``, ``szz``, ``max_principal``;
- both: ``von_mises``, ``utilisation`` (von Mises / f_y(T), dimensionless; 0 outside the
  metal), and for ``plastic`` the ``equivalent_plastic_strain``;

plus ``units`` and ``attrs`` (model, worst utilisation, its time and cell, the alert flag).
``stress_summary`` gives the scalars the run summary prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from steeltwin.engine import (
    Grid,
    plate_history,
    plate_stress,
    section_history,
    section_stress,
    stress_risk,
)
from steeltwin.engine.config import StressJob

MPA = 1e6
_STRESS_2D = ("sxx", "syy", "sxy", "szz", "von_mises", "max_principal")


def compute_stress(job: StressJob, temperature: Any, times: Any, grid: Grid) -> dict[str, Any]:
    """Stress fields, utilisation and risk for temperatures (K, [n_t, *shape]) at ``times`` (s)."""
    T = temperature
    out: dict[str, Any] = {}
    res: Any  # PlateStress | PlateHistory | SectionStress | SectionHistory
    if grid.ndim == 1:
        if job.model == "elastic":
            res = plate_stress(T, grid, job.material, job.plate_mode)
        else:
            res = plate_history(T, grid, job.material, job.plate_mode)
            out["equivalent_plastic_strain"] = np.asarray(res.equivalent_plastic_strain)
        out["sigma"] = np.asarray(res.stress)
        out["von_mises"] = np.asarray(res.von_mises)
        mask = None
    else:
        if job.model == "elastic":
            res = section_stress(T, grid, job.material, job.kind)
        else:
            res = section_history(T, grid, job.material, job.kind)
            out["equivalent_plastic_strain"] = np.asarray(res.equivalent_plastic_strain)
        for name in _STRESS_2D:
            out[name] = np.asarray(getattr(res, name))
        mask = grid.mask
    risk = stress_risk(res.von_mises, T, job.material, job.threshold, mask=mask)
    out["utilisation"] = np.asarray(risk.utilisation)
    k = int(risk.worst_time)
    cell = np.unravel_index(int(risk.worst_index), grid.shape)
    out["units"] = {name: ("1" if name in ("utilisation", "equivalent_plastic_strain") else "Pa")
                    for name in out}
    out["attrs"] = {
        "model": job.model,
        "plate_mode" if grid.ndim == 1 else "kind": (job.plate_mode if grid.ndim == 1
                                                     else job.kind),
        "worst_utilisation": float(risk.worst),
        "worst_time_s": float(np.asarray(times)[k]),
        "worst_time_index": k,
        "worst_index": np.asarray(cell, np.int64),
        "alert": bool(risk.alert),
        "alert_threshold": float(job.threshold),
    }
    return out


def stress_summary(stress: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """Summary scalars of the stress step (MPa, h, mm; see ``_summary``)."""
    a = stress["attrs"]
    mask = np.asarray(result["mask"], bool)
    cell = tuple(int(i) for i in np.asarray(a["worst_index"]))
    coords = result["coordinates"]
    where = {f"stress_worst_{axis}_mm": float(coords[axis][i]) * 1e3
             for axis, i in zip(coords, cell, strict=True)}
    if "sigma" in stress:
        tensile = np.asarray(stress["sigma"])
        compressive = tensile
    else:
        sxx, syy, sxy, szz = (np.asarray(stress[n]) for n in ("sxx", "syy", "sxy", "szz"))
        tensile = np.asarray(stress["max_principal"])
        rad = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
        compressive = np.minimum((sxx + syy) / 2 - rad, szz)
    metal = np.broadcast_to(mask, tensile.shape)
    out: dict[str, Any] = {
        "stress_model": str(a["model"]),
        "stress_max_utilisation": float(a["worst_utilisation"]),
        "stress_worst_time_h": float(a["worst_time_s"]) / 3600.0,
        **where,
        "stress_alert": bool(a["alert"]),
        "stress_alert_threshold": float(a["alert_threshold"]),
        "stress_max_tensile_MPa": float(np.max(np.where(metal, tensile, -np.inf))) / MPA,
        "stress_max_compressive_MPa": float(np.min(np.where(metal, compressive, np.inf))) / MPA,
    }
    if a["model"] == "plastic":
        vm_end = np.asarray(stress["von_mises"])[-1]
        out["stress_residual_von_mises_MPa"] = float(np.max(np.where(mask, vm_end, 0.0))) / MPA
        if "sigma" in stress:
            s_end = np.asarray(stress["sigma"])[-1]
            out["stress_residual_surface_MPa"] = float(0.5 * (s_end[0] + s_end[-1])) / MPA
    return out


def format_stress(summary: Mapping[str, Any]) -> list[str]:
    """The stress lines of the printed summary ([] without a stress step)."""
    if "stress_max_utilisation" not in summary:
        return []
    where = ", ".join(f"{k.split('_')[2]} = {summary[k]:.1f} mm" for k in summary
                      if k.startswith("stress_worst_") and k.endswith("_mm"))
    rows = [
        f"  stress ({summary['stress_model']})",
        f"    max utilisation vM/f_y(T) {summary['stress_max_utilisation']:8.3f}   at "
        f"{summary['stress_worst_time_h']:.2f} h, {where}",
        f"    {'alert (> ' + format(summary['stress_alert_threshold'], 'g') + ')':<25}"
        f"{'YES' if summary['stress_alert'] else 'no':>8}",
        f"    max tensile stress       {summary['stress_max_tensile_MPa']:+8.1f} MPa",
        f"    max compressive stress   {summary['stress_max_compressive_MPa']:+8.1f} MPa",
    ]
    if "stress_residual_von_mises_MPa" in summary:
        rows.append(f"    residual at the end      {summary['stress_residual_von_mises_MPa']:8.1f}"
                    " MPa (max von Mises)" + (
                        f"; surface {summary['stress_residual_surface_MPa']:+.1f} MPa"
                        if "stress_residual_surface_MPa" in summary else ""))
    return rows
