"""right to erasure: ingest consumes leads.erasure.v1, so it remembers processed event ids,
and keeps the tombstone of each erasure it applied (counts)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_event")),
        schema=S,
    )
    op.create_index(
        op.f("ix_ingest_processed_event_processed_at"),
        "processed_event",
        ["processed_at"],
        schema=S,
    )
    op.create_table(
        "erasure",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", postgresql.JSONB(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("erasure", schema=S)
    op.drop_index(op.f("ix_ingest_processed_event_processed_at"), "processed_event", schema=S)
    op.drop_table("processed_event", schema=S)
