"""erased refs: ``erased_ref``, every lead id and submission id an erasure erased, so an
event about them that arrives after the erasure is stored already erased (ids only)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "delivery"


def upgrade() -> None:
    op.create_table(
        "erased_ref",
        sa.Column("ref", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("erasure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_erased_ref")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("erased_ref", schema=S)
