"""The exit-status contract shared by the Hydra entry points (simulate, twin, serve, datagen,
train): 0 done, 2 invalid config (nothing computed), 1 anything else.

Hydra exits with status 1 when it cannot compose a config (an unknown group option, a bad
override); that happens before the task function runs, so it is an invalid config too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

EXIT_CONFIG = 2


class EntryPoint:
    """Wraps a ``@hydra.main`` app: call :meth:`started` first thing in the task function."""

    def __init__(self) -> None:
        self.task_started = False

    def started(self) -> None:
        self.task_started = True
        # Orbax logs every checkpoint restore at INFO through absl; Hydra's logging config
        # would print it among the app's own lines.
        logging.getLogger("absl").setLevel(logging.WARNING)

    def run(self, app: Callable[[], None]) -> None:
        """Run ``app``; a config Hydra cannot compose exits with status 2, not 1."""
        try:
            app()
        except SystemExit as done:
            if done.code == 1 and not self.task_started:
                raise SystemExit(EXIT_CONFIG) from None
            raise
