"""``steeltwin-serve``: run the twin service (FastAPI app under uvicorn) from ``conf/serve.yaml``.

    steeltwin-serve                                  # http://127.0.0.1:8000, docs at /docs
    steeltwin-serve serve.port=9000 serve.database=postgresql://user@host/db
    steeltwin-serve keys create-tenant acme          # operators: tenants and keys (``_keys``)

The port is bound as soon as the model is built; the XLA programs then compile in the
background (``/readyz`` says how far), kept in the persistent compilation cache
``serve.compile_cache`` for the next start. Exit status: 0 stopped; 2 invalid config (nothing
started); 1 anything else. The app is :func:`steeltwin.engine.service.create_app`;
:func:`build_settings` turns the config into its settings.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import hydra
import jax
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from steeltwin.engine import ConfigError
from steeltwin.engine.config import EXIT_CONFIG, to_plain

from ._entry import EntryPoint
from ._hydra import CONFIG_PATH

_entry = EntryPoint(
    "steeltwin-serve", "serve",
    "serve the predict and twin APIs over HTTP (FastAPI under uvicorn), state in SQLite or "
    "PostgreSQL. Operators: `steeltwin-serve keys --help` (create tenants; create, list and "
    "revoke API keys in the configured store).")
SERVER_KEYS = ("host", "port", "workers", "log_level", "compile_cache")  # the process's


def build_settings(cfg: DictConfig | Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``ServeSettings`` and the uvicorn options of a serve config (checked)."""
    from steeltwin.engine.service import ServeSettings

    plain = to_plain(cfg)
    serve = dict(plain.get("serve") or {})
    server = {k: serve.pop(k) for k in SERVER_KEYS if k in serve}
    known = set(ServeSettings.__dataclass_fields__) - {"propagator", "twin"}
    unknown = sorted(set(serve) - known)
    if unknown:
        raise ConfigError(f"serve.{unknown[0]} is not a setting: expected one of "
                          f"{', '.join(sorted(known | set(SERVER_KEYS)))}")
    port = server.get("port", 8000)
    if not (isinstance(port, int) and 0 < port < 65536):
        raise ConfigError(f"serve.port={port!r} is invalid: expected 1-65535")
    if server.get("workers", 1) != 1:
        raise ConfigError(f"serve.workers={server['workers']!r} is invalid: run one process "
                          "per replica (several replicas share a PostgreSQL store)")
    settings = ServeSettings(propagator=dict(plain["propagator"]), twin=dict(plain["twin"]),
                             **serve)
    return settings, server


def use_compile_cache(path: str | None) -> None:
    """Keep compiled XLA programs in ``path`` across restarts (None: off; the environment's
    ``JAX_COMPILATION_CACHE_DIR`` wins). Every program is kept, however fast it compiled (JAX
    keeps only those over 1 s by default: most of a start's compiles are shorter). The folder
    is made 0700: the service loads the programs in it as code."""
    if not path or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    os.makedirs(path, mode=0o700, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


@hydra.main(config_path=CONFIG_PATH, config_name="serve", version_base="1.3")
def app(cfg: DictConfig) -> None:
    _entry.started()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    if cfg.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        import uvicorn

        from steeltwin.engine.service import create_app

        settings, server = build_settings(cfg)
        use_compile_cache(server.get("compile_cache"))
        api = create_app(settings)
    except (ConfigError, OmegaConfBaseException, FileNotFoundError) as err:
        _entry.invalid(err)
    except ImportError as err:
        print(f"steeltwin-serve: {err}; install the serving extra: pip install 'steeltwin[serve]'",
              file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    key = api.state.service
    print(f"steeltwin-serve: model {key.model.name} ({key.model.version}), store "
          f"{key.store.url}; http://{server.get('host')}:{server.get('port')}/docs",
          flush=True)
    uvicorn.run(api, host=server.get("host", "127.0.0.1"), port=server.get("port", 8000),
                log_level=server.get("log_level", "info"))


def main() -> None:
    if sys.argv[1:2] == ["keys"]:  # an operator's command, not a server: no Hydra run
        from ._keys import main as keys

        sys.exit(keys(sys.argv[2:]))
    _entry.run(app)


if __name__ == "__main__":
    main()
