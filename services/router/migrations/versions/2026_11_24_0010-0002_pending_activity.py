"""pending activities: activities that arrive before their lead

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_activity",
        sa.Column("activity_id", sa.UUID(), nullable=False),
        sa.Column("lead_ref", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_pending_activity")),
        schema="router",
    )
    op.create_index(
        op.f("ix_router_pending_activity_lead_ref"),
        "pending_activity",
        ["lead_ref"],
        unique=False,
        schema="router",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_router_pending_activity_lead_ref"), table_name="pending_activity", schema="router"
    )
    op.drop_table("pending_activity", schema="router")
