"""Plain NumPy/SciPy baselines (and the scikit-fem peer) for the two solver benchmarks.

Case (a), `scipy_cn_billet` / `skfem_billet`: 150 × 150 mm billet, constant properties,
convection h = 150 W/(m²·K) to 1250 °C from 25 °C, checked against the exact product solution
at 600 s and 3600 s (vertex-centred finite volumes / Q2 finite elements, quarter symmetry,
Crank–Nicolson with one sparse LU per solve).

Case (b), `scipy_newton_slab` / `reference_slab`: 220 mm EN 1993-1-2 carbon-steel slab,
radiation φσ(T_f⁴ − T_s⁴) with φ = 0.6 on both faces, gas 1000/1250/1230 °C in zones ending at
3600/7200/9600 s (vertex-centred finite volumes with Kirchhoff fluxes, half symmetry;
Crank–Nicolson in enthalpy form with Newton, and a method-of-lines BDF reference).

Run from the repository root:

    python -m benchmarks.baselines --out baselines.json

It prints and writes the cheapest settings reaching max error ≤ 1 K with warm timings, the
reference convergence (400 vs 800 cells) and the machine's memory bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import numpy as np
import scipy

from benchmarks._billet import billet_errors, exact_billet, scipy_cn_billet
from benchmarks._search import (
    cheapest,
    reference_convergence,
    search_billet_fv,
    search_billet_skfem,
    search_slab_newton,
    slab_errors,
    time_warm,
)
from benchmarks._skfem_billet import skfem_billet
from benchmarks._slab import reference_slab, scipy_newton_slab
from benchmarks.roofline import memory_bandwidth_gbps

__all__ = [
    "billet_errors",
    "cheapest",
    "exact_billet",
    "memory_bandwidth_gbps",
    "reference_convergence",
    "reference_slab",
    "run_all",
    "scipy_cn_billet",
    "scipy_newton_slab",
    "search_billet_fv",
    "search_billet_skfem",
    "search_slab_newton",
    "skfem_billet",
    "slab_errors",
    "time_warm",
]


def run_all(repeats: int = 7) -> dict:
    """Every search, the reference convergence study and the bandwidth, as one JSON-able dict."""
    convergence = reference_convergence(400, 800)
    return {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "billet_scipy_fv": search_billet_fv(repeats),
        "billet_skfem_q2": search_billet_skfem(repeats),
        "slab_scipy_newton": search_slab_newton(reference_slab(400), repeats),
        "slab_reference_convergence": convergence,
        "memory_bandwidth_gbps": memory_bandwidth_gbps(use_jax=False),
    }


def _json_default(value):
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the results as JSON to this path")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    results = run_all(args.repeats)
    text = json.dumps(results, indent=2, default=_json_default)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
