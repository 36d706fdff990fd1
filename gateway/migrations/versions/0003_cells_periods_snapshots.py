"""Cells for every level of the tree, periods, snapshots, integrity flags.

`scores` (per-unit sums) is replaced by `cells` (per-value counts at every level). Both are derived
from `answers`: the release step recomputes the cells of every quarter that has none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:20:26.464903
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("integrity_flags",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("kind", sa.String(length=30), nullable=False),
    sa.Column("subject", sa.String(length=200), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("counts", sa.JSON(), nullable=False),
    sa.Column("detail", sa.String(length=300), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_flags")),
    sa.UniqueConstraint("period", "kind", "subject", "window_start", name="uq_integrity_flags")
    )
    op.create_table("periods",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("code", sa.String(length=6), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("review_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("snapshot_version", sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_periods")),
    sa.UniqueConstraint("code", name=op.f("uq_periods_code"))
    )
    op.create_table("snapshots",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("method_version", sa.String(length=40), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    sa.UniqueConstraint("period", "version", name="uq_snapshots_period_version")
    )
    op.create_table("cells",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=200), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("level", sa.String(length=20), nullable=False),
    sa.Column("location_id", sa.Integer(), nullable=False),
    sa.Column("unit_id", sa.Integer(), nullable=True),
    sa.Column("institution_type", sa.String(length=20), nullable=False),
    sa.Column("indicator", sa.String(length=40), nullable=False),
    sa.Column("counts", sa.String(length=400), nullable=False),
    sa.Column("respondents", sa.Integer(), nullable=False),
    sa.Column("dont_know", sa.Integer(), nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_cells_location_id_locations")),
    sa.ForeignKeyConstraint(["unit_id"], ["institution_units.id"], name=op.f("fk_cells_unit_id_institution_units")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_cells")),
    sa.UniqueConstraint("key", name=op.f("uq_cells_key"))
    )
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.create_index("ix_cells_period_level", ["period", "level", "institution_type"], unique=False)

    op.drop_table("scores")
    # Quarters that already have answers exist as periods, open.
    op.execute("INSERT INTO periods (code, status, opened_at) "
               "SELECT period, 'open', MIN(received_at) FROM answers GROUP BY period")


def downgrade() -> None:
    # The old per-unit sums come back empty: they are derived, the answers are untouched.
    op.create_table("scores",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("period", sa.String(length=6), nullable=False),
    sa.Column("unit_id", sa.Integer(), nullable=False),
    sa.Column("indicator", sa.String(length=40), nullable=False),
    sa.Column("respondents", sa.Integer(), nullable=False),
    sa.Column("dont_know", sa.Integer(), nullable=False),
    sa.Column("value_sum", sa.Integer(), nullable=False),
    sa.Column("value_sq_sum", sa.Integer(), nullable=False),
    sa.Column("mean", sa.Float(), nullable=True),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["unit_id"], ["institution_units.id"], name=op.f("fk_scores_unit_id_institution_units")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
    sa.UniqueConstraint("period", "unit_id", "indicator", name=op.f("uq_scores_cell"))
    )
    with op.batch_alter_table("cells", schema=None) as batch_op:
        batch_op.drop_index("ix_cells_period_level")

    op.drop_table("cells")
    op.drop_table("snapshots")
    op.drop_table("periods")
    op.drop_table("integrity_flags")
