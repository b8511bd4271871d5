"""processed event ids are pruned by age: index processed_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:00:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_router_processed_event_processed_at"),
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="router",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_router_processed_event_processed_at"),
        table_name="processed_event",
        schema="router",
    )
