"""gunicorn's configuration for the Procfile's `web:` process.

It is read as `--config python:gateway.gunicorn_conf`.

Rules:
- the Procfile's command line keeps every plain setting (bind, workers, threads, timeouts); this
  module holds only what needs code: the hooks and the logger class;
- with `PROMETHEUS_MULTIPROC_DIR` set (prometheus_client's multiprocess mode, see
  `gateway.metrics`), the directory is created when gunicorn starts and the files of processes
  that are gone are removed (those of processes still running, such as an RQ worker on the same
  host, are kept); a worker that exits is marked dead, so its live gauges leave the sum;
- gunicorn's own lines (start, workers booting, timeouts) are JSON lines with numbers masked, like
  the application's (`gateway.logs`); gunicorn's access log stays off: the application writes one
  line per request, with the webhook token masked;
- the gateway is imported inside the hooks, not when gunicorn reads this file.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger


def on_starting(server: Any) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from gateway.metrics import prune_dead_processes  # creates the directory when imported

        os.makedirs(directory, exist_ok=True)
        removed = prune_dead_processes(directory)
        server.log.info("metrics: %s ready (%d files of stopped processes removed)",
                        directory, len(removed))


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing the gateway's JSON lines."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from gateway import logs

        log_format = "text" if os.environ.get("LOG_FORMAT", "").strip().lower() == "text" else (
            "json")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):  # gunicorn's own, made just now
                    logs.dress(handler, log_format)


logger_class = JsonLogger
