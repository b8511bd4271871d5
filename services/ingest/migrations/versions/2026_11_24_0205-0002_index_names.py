"""index names follow the naming convention (ix_<schema>_<table>_<column>)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:05:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RENAMES = (
    ("ix_idempotency_key_expires_at", "ix_ingest_idempotency_key_expires_at"),
    ("ix_trade_show_import_show_id", "ix_ingest_trade_show_import_show_id"),
)


def upgrade() -> None:
    for old, new in RENAMES:
        op.execute(f"ALTER INDEX ingest.{old} RENAME TO {new}")


def downgrade() -> None:
    for old, new in RENAMES:
        op.execute(f"ALTER INDEX ingest.{new} RENAME TO {old}")
