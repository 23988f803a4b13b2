"""The contract shared by the Hydra entry points (simulate, datagen, train, evaluate, twin,
serve): exit statuses, the override check, warnings and the run folder's summary file.

Exit statuses (:mod:`steeltwin.engine.config`): 0 done, 2 invalid config (nothing computed),
1 anything else. Hydra exits with status 1 when it cannot compose a config (an unknown group
option, a bad override); that happens before the task function runs, so it is an invalid
config too. A misspelt key gets the project's own message before Hydra starts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

from hydra.errors import HydraException

from steeltwin.engine.config import EXIT_CONFIG

from ._help import app_help
from ._hydra import override_key_error, register_configs

SUMMARY_FILE = "summary.txt"


class EntryPoint:
    """Wraps a ``@hydra.main`` app: call :meth:`started` first thing in the task function.

    Args:
        prog: the command's name (``steeltwin-simulate``), the prefix of its messages.
        config_name: its primary config in ``conf/``.
        description: what the app does, the first lines of its ``--help``.
    """

    def __init__(self, prog: str, config_name: str, description: str) -> None:
        self.prog = prog
        self.config_name = config_name
        self.description = description
        self.task_started = False
        register_configs()

    def started(self) -> None:
        self.task_started = True
        # Orbax logs every checkpoint restore at INFO through absl; Hydra's logging config
        # would print it among the app's own lines.
        logging.getLogger("absl").setLevel(logging.WARNING)
        logging.getLogger("jax").setLevel(logging.WARNING)  # Hydra's root logger is at INFO

    def invalid(self, err: object) -> NoReturn:
        """Report an invalid config and exit with status 2."""
        print(f"{self.prog}: invalid config: {err}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)

    def warn(self, notes: Iterable[str]) -> None:
        """Print plausibility warnings (values that are possible but look mistyped)."""
        for note in notes:
            print(f"{self.prog}: warning: {note}", file=sys.stderr)

    def report(self, text: str, folder: str | Path | None) -> None:
        """Print the run's summary and keep it as ``summary.txt`` in its run folder."""
        print(text)
        if folder is not None:
            path = Path(folder)
            path.mkdir(parents=True, exist_ok=True)
            (path / SUMMARY_FILE).write_text(text + "\n", encoding="utf-8")

    def run(self, app: Callable[[], None], args: list[str] | None = None) -> None:
        """Check the overrides' keys, then run ``app``; a config Hydra cannot compose exits
        with status 2, not 1."""
        args = sys.argv[1:] if args is None else args
        if "--help" in args or "-h" in args:
            overrides = [a for a in args if not a.startswith("-")]
            try:
                text = app_help(self.prog, self.config_name, self.description, overrides)
            except HydraException as err:
                self.invalid(override_key_error(self.config_name, overrides) or err)
            print(text)
            sys.exit(0)
        if not any(a in ("--hydra-help", "--info") for a in args):
            message = override_key_error(self.config_name, args)
            if message is not None:
                self.invalid(message)
        try:
            app()
        except SystemExit as done:
            if done.code == 1 and not self.task_started:
                raise SystemExit(EXIT_CONFIG) from None
            raise
