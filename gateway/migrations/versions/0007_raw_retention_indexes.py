"""indexes for the retention purge of raw traffic (ussd_events, sms_inbound by arrival)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The sweeper looks for rows past RAW_RETENTION_DAYS every sweep: without these, a full scan
    # of both tables every 30 seconds.
    op.create_index("ix_ussd_events_received_at", "ussd_events", ["received_at"])
    op.create_index("ix_sms_inbound_received_at", "sms_inbound", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_inbound_received_at", table_name="sms_inbound")
    op.drop_index("ix_ussd_events_received_at", table_name="ussd_events")
