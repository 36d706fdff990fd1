"""Signed pushes of locked quarters to RBF webhooks, and every attempt.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:46:53.282882
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("deliveries",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("delivery_id", sa.String(length=40), nullable=False),
    sa.Column("url", sa.String(length=500), nullable=False),
    sa.Column("event", sa.String(length=40), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    sa.UniqueConstraint("delivery_id", name=op.f("uq_deliveries_delivery_id"))
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_due", ["status", "next_attempt_at"], unique=False)

    op.create_table("delivery_attempts",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("delivery_id", sa.Integer(), nullable=False),
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.String(length=300), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name=op.f("fk_delivery_attempts_delivery_id_deliveries")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts"))
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")

    op.drop_table("deliveries")
