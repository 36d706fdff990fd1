"""What one application instance holds: settings, database, flow, catalog, directory and queue.

Built by `create_app`, reached by views through `current_gateway()`; never a module global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

from flows import Catalog, Flow
from gateway.db import Database
from gateway.dhis2 import Dhis2Mapping
from gateway.directory import DirectoryCache
from gateway.method import load_method
from gateway.queueing import InProcessJobQueue, JobQueue, RedisJobQueue
from gateway.settings import Settings
from gateway.smsconfig import SmsConfig, load_sms
from gateway.vault import Vault
from scoring.keys import REFRESH_PERIOD
from scoring.report import Method

if TYPE_CHECKING:
    from flows.sms import Grammar
    from gateway.directory import Snapshot
    from gateway.sms_inbox import Context as SmsContext


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
    sms: SmsConfig
    vault: Vault
    _grammar: tuple[Snapshot, Grammar] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, flow: Flow, catalog: Catalog) -> GatewayState:
        db = Database(settings.database_url)
        queue: JobQueue
        if settings.redis_url:
            queue = RedisJobQueue.from_url(settings.redis_url, settings.enqueue_timeout)
        else:
            in_process = InProcessJobQueue(db, settings.sweep_interval, extra={
                "gateway.push.deliver": {"secret": settings.rbf_webhook_secret},
                "gateway.outbox.send_sms": {"settings": settings},
                # This runner re-queues a job id as soon as its run starts: no need to linger.
                REFRESH_PERIOD: {"pause": 0.0}}, settings=settings)
            in_process.start()  # its sweeper: reviews ended quarters, retries pushes, when idle too
            queue = in_process
        method = load_method(settings.config_dir, flow, settings.min_respondents)
        return cls(settings, db, flow, catalog, DirectoryCache(db), queue, method,
                   Dhis2Mapping.load(settings.config_dir), load_sms(settings.config_dir, flow),
                   Vault(settings.vault_keys, settings.vault_retention_days))

    def sms_context(self) -> SmsContext:
        """What handling an incoming SMS needs; the grammar knows the directory's unit codes."""
        from gateway.sms_inbox import Context as SmsContext

        snapshot = self.directory.get()
        cached = self._grammar
        if cached is None or cached[0] is not snapshot:
            cached = (snapshot, self.sms.grammar.with_units(list(snapshot.unit_ids)))
            self._grammar = cached
        return SmsContext(self.sms, cached[1], snapshot, self.vault,
                          self.settings.phone_hash_key_version, self.flow.version,
                          self.settings.sms_max_per_day)

    def close(self) -> None:
        self.queue.close()
        self.db.dispose()


def current_gateway() -> GatewayState:
    state: GatewayState = current_app.extensions["gateway"]
    return state
