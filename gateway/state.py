"""What one application instance holds: settings, database, flow, catalog, directory and queue.

Built by `create_app`, reached by views through `current_gateway()`; never a module global.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from flows import Catalog, Flow
from gateway.db import Database
from gateway.dhis2 import Dhis2Mapping
from gateway.directory import DirectoryCache
from gateway.method import load_method
from gateway.queueing import InProcessJobQueue, JobQueue, RedisJobQueue
from gateway.settings import Settings
from scoring.report import Method


@dataclass
class GatewayState:
    settings: Settings
    db: Database
    flow: Flow
    catalog: Catalog
    directory: DirectoryCache
    queue: JobQueue
    method: Method
    dhis2: Dhis2Mapping

    @classmethod
    def build(cls, settings: Settings, flow: Flow, catalog: Catalog) -> GatewayState:
        db = Database(settings.database_url)
        queue: JobQueue
        if settings.redis_url:
            queue = RedisJobQueue.from_url(settings.redis_url, settings.enqueue_timeout)
        else:
            in_process = InProcessJobQueue(db, settings.sweep_interval, extra={
                "gateway.push.deliver": {"secret": settings.rbf_webhook_secret}})
            in_process.start()  # its sweeper: reviews ended quarters, retries pushes, when idle too
            queue = in_process
        method = load_method(settings.config_dir, flow, settings.min_respondents)
        return cls(settings, db, flow, catalog, DirectoryCache(db), queue, method,
                   Dhis2Mapping.load(settings.config_dir))

    def close(self) -> None:
        self.queue.close()
        self.db.dispose()


def current_gateway() -> GatewayState:
    state: GatewayState = current_app.extensions["gateway"]
    return state
