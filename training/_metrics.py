"""Training metrics: one row per evaluation to ``metrics.jsonl`` and ``metrics.csv`` (always)
and to TensorBoard (``<out_dir>/tensorboard``) when ``tensorboardX`` is installed.

Appends, so a resumed run continues the same files; the TensorBoard writer starts a new event
file per session, which TensorBoard merges by step.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"
# Metric key -> TensorBoard tag (grouped into sections); other numeric keys keep their name.
TAGS = {"loss": "train/loss", "window": "train/rollout_window",
        "val_rollout_rmse_K": "validation/rollout_rmse_K",
        "val_rollout_max_K": "validation/rollout_max_K",
        "val_energy_residual_K": "validation/energy_residual_K", "seconds": "time/seconds"}


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboardX") is not None


class MetricsLog:
    """Writes metric rows (each with a ``step``) to the run folder."""

    def __init__(self, out_dir: str | Path, tensorboard: bool | None = None) -> None:
        self.out = Path(out_dir)
        use_tb = tensorboard_available() if tensorboard is None else tensorboard
        self._tb: Any = None
        if use_tb:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(logdir=str(self.out / TENSORBOARD_DIR))

    def write(self, row: Mapping[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(dict(row)) + "\n")
        self._write_csv(self.out / "metrics.csv", row)
        if self._tb is not None:
            step = int(row["step"])
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float):
                    self._tb.add_scalar(TAGS.get(k, k), float(v), step)
            self._tb.flush()

    @staticmethod
    def _write_csv(path: Path, row: Mapping[str, Any]) -> None:
        header: list[str] = []
        if path.exists():
            with open(path, newline="") as f:
                header = next(csv.reader(f), [])
        missing = [k for k in row if k not in header]
        if header and missing:
            # A new metric (a resumed run of an older version, or a new option): rewrite the
            # file with the wider header; earlier rows get empty cells.
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            tmp = path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=header + missing)
                w.writeheader()
                w.writerows(rows)
            tmp.replace(path)
            header = header + missing
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header or list(row), restval="")
            if not header:
                w.writeheader()
            w.writerow(row)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
