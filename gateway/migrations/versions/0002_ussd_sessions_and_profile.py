"""USSD sessions, end-of-session events, caller profiles and withdrawn submissions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:58:47.213614
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("ussd_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("session_id", sa.String(length=128), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("hops_count", sa.Integer(), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Column("last_node", sa.String(length=40), nullable=True),
    sa.Column("last_app_response", sa.String(length=200), nullable=True),
    sa.Column("error_message", sa.String(length=200), nullable=True),
    sa.Column("network_code", sa.String(length=10), nullable=True),
    sa.Column("service_code", sa.String(length=40), nullable=True),
    sa.Column("cost", sa.String(length=40), nullable=True),
    sa.Column("at_date", sa.String(length=40), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_ussd_events")),
    sa.UniqueConstraint("session_id", name=op.f("uq_ussd_events_session_id"))
    )
    op.create_table("ussd_sessions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("session_id", sa.String(length=128), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("start_profile", sa.JSON(), nullable=False),
    sa.Column("resume_path", sa.JSON(), nullable=True),
    sa.Column("resume_profile", sa.JSON(), nullable=True),
    sa.Column("resumed_from", sa.String(length=128), nullable=True),
    sa.Column("path", sa.JSON(), nullable=False),
    sa.Column("path_profile", sa.JSON(), nullable=False),
    sa.Column("answered", sa.Integer(), nullable=False),
    sa.Column("hops", sa.Integer(), nullable=False),
    sa.Column("last_node", sa.String(length=40), nullable=False),
    sa.Column("language", sa.String(length=8), nullable=True),
    sa.Column("ended", sa.Boolean(), nullable=False),
    sa.Column("resumable", sa.Boolean(), nullable=False),
    sa.Column("network_code", sa.String(length=10), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_ussd_sessions_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_ussd_sessions")),
    sa.UniqueConstraint("session_id", name=op.f("uq_ussd_sessions_session_id"))
    )
    with op.batch_alter_table("ussd_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_ussd_sessions_respondent", ["respondent_id", "started_at"], unique=False)

    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("respondents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("consent_version", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_location_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_respondents_last_location_id_locations"), "locations", ["last_location_id"], ["id"])



def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")

    with op.batch_alter_table("respondents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_respondents_last_location_id_locations"), type_="foreignkey")
        batch_op.drop_column("last_location_id")
        batch_op.drop_column("consented_at")
        batch_op.drop_column("consent_version")
        batch_op.drop_column("language")

    with op.batch_alter_table("ussd_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_ussd_sessions_respondent")

    op.drop_table("ussd_sessions")
    op.drop_table("ussd_events")
