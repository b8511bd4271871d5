"""audit trail: ``audit_event``, one row per admin change to delivery's endpoints (who, when, what)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 15:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "delivery"


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        schema=S,
    )
    for column in ("at", "actor", "action", "subject_id"):
        op.create_index(f"ix_delivery_audit_event_{column}", "audit_event", [column], schema=S)


def downgrade() -> None:
    op.drop_table("audit_event", schema=S)
