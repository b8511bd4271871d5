"""after assignment: what sales last reported on a lead (status, when), why it is on its list,
and parked events of more than one type (activities and sales lifecycle changes), in the
order they arrived

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "nurture"
ACTIVITY_TYPE = "io.leadflow.lead.activity.v1"


def upgrade() -> None:
    op.add_column("lead", sa.Column("list_reason", sa.String(300), nullable=True), schema=S)
    op.add_column("lead", sa.Column("sales_status", sa.String(16), nullable=True), schema=S)
    op.add_column(
        "lead", sa.Column("sales_status_at", sa.DateTime(timezone=True), nullable=True), schema=S
    )
    # rows parked before this revision are activities
    op.add_column(
        "pending_activity",
        sa.Column("event_type", sa.String(64), nullable=False, server_default=ACTIVITY_TYPE),
        schema=S,
    )
    op.add_column(
        "pending_activity",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("pending_activity", "seq", schema=S)
    op.drop_column("pending_activity", "event_type", schema=S)
    op.drop_column("lead", "sales_status_at", schema=S)
    op.drop_column("lead", "sales_status", schema=S)
    op.drop_column("lead", "list_reason", schema=S)
