"""SMS channel: inbound messages, feedback, outbound SMS, phone vault

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 07:59:50.052317
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("phone_vault",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("ciphertext", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_phone_vault_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_vault")),
    sa.UniqueConstraint("respondent_id", name=op.f("uq_phone_vault_respondent_id"))
    )
    with op.batch_alter_table("phone_vault", schema=None) as batch_op:
        batch_op.create_index("ix_phone_vault_purge_after", ["purge_after"], unique=False)

    op.create_table("sms_inbound",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at_id", sa.String(length=100), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("short_code", sa.String(length=20), nullable=True),
    sa.Column("link_id", sa.String(length=100), nullable=True),
    sa.Column("network_code", sa.String(length=10), nullable=True),
    sa.Column("at_date", sa.String(length=40), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("language", sa.String(length=8), nullable=False),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("outcome", sa.String(length=40), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_sms_inbound_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_inbound")),
    sa.UniqueConstraint("at_id", name=op.f("uq_sms_inbound_at_id"))
    )
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.create_index("ix_sms_inbound_respondent", ["respondent_id", "received_at"], unique=False)

    op.create_table("sms_pending",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("waiting_for", sa.String(length=20), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_sms_pending_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_pending")),
    sa.UniqueConstraint("respondent_id", name=op.f("uq_sms_pending_respondent_id"))
    )
    op.create_table("feedback",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("inbound_id", sa.Integer(), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("language", sa.String(length=8), nullable=False),
    sa.Column("location_id", sa.Integer(), nullable=True),
    sa.Column("institution_type", sa.String(length=20), nullable=True),
    sa.Column("category", sa.String(length=20), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["inbound_id"], ["sms_inbound.id"], name=op.f("fk_feedback_inbound_id_sms_inbound")),
    sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_feedback_location_id_locations")),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_feedback_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    sa.UniqueConstraint("inbound_id", name=op.f("uq_feedback_inbound_id"))
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_status", ["status", "created_at"], unique=False)

    op.create_table("outbound_sms",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", sa.String(length=120), nullable=False),
    sa.Column("respondent_id", sa.Integer(), nullable=False),
    sa.Column("feedback_id", sa.Integer(), nullable=True),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("language", sa.String(length=8), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("encoding", sa.String(length=8), nullable=False),
    sa.Column("segments", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("at_message_id", sa.String(length=100), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("at_status", sa.String(length=40), nullable=True),
    sa.Column("failure_reason", sa.String(length=100), nullable=True),
    sa.Column("cost", sa.String(length=40), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["feedback_id"], ["feedback.id"], name=op.f("fk_outbound_sms_feedback_id_feedback")),
    sa.ForeignKeyConstraint(["respondent_id"], ["respondents.id"], name=op.f("fk_outbound_sms_respondent_id_respondents")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_sms")),
    sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_sms_idempotency_key"))
    )
    with op.batch_alter_table("outbound_sms", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_sms_at_message_id", ["at_message_id"], unique=False)
        batch_op.create_index("ix_outbound_sms_due", ["status", "next_attempt_at"], unique=False)

    with op.batch_alter_table("respondents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sms_language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("sms_opted_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("results_opt_in_at", sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table("respondents", schema=None) as batch_op:
        batch_op.drop_column("results_opt_in_at")
        batch_op.drop_column("sms_opted_out_at")
        batch_op.drop_column("sms_language")

    with op.batch_alter_table("outbound_sms", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_sms_due")
        batch_op.drop_index("ix_outbound_sms_at_message_id")

    op.drop_table("outbound_sms")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_status")

    op.drop_table("feedback")
    op.drop_table("sms_pending")
    with op.batch_alter_table("sms_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_inbound_respondent")

    op.drop_table("sms_inbound")
    with op.batch_alter_table("phone_vault", schema=None) as batch_op:
        batch_op.drop_index("ix_phone_vault_purge_after")

    op.drop_table("phone_vault")
