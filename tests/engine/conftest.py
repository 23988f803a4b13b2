"""Make ``import engine`` find the package, not this directory.

This directory is called ``engine`` (tests mirror the packages) and has no ``__init__.py``, so
when pytest puts ``tests/`` on ``sys.path`` a bare ``pytest`` run (without the repository root
on the path) would import ``tests/engine`` as a namespace package instead of the library.
Putting the repository root first settles it; ``python -m pytest`` and an installed package
are unaffected.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
