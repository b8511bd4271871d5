"""right to erasure: the tombstone of each erasure (ids, counts, the non-personal summary of
the decisions), the lead and submission ids it erased, and the erased people's hashed
identities

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

S = "router"


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("lead_ids", postgresql.JSONB(), nullable=False),
        sa.Column("submission_ids", postgresql.JSONB(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("counts", postgresql.JSONB(), nullable=False),
        sa.Column("summary", postgresql.JSONB(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
        schema=S,
    )
    op.create_table(
        "erased_ref",
        sa.Column("ref_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # lead | submission
        sa.Column("erasure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("ref_id", name=op.f("pk_erased_ref")),
        sa.ForeignKeyConstraint(
            ["erasure_id"], [f"{S}.erasure.id"], name=op.f("fk_erased_ref_erasure_id_erasure")
        ),
        schema=S,
    )
    op.create_table(
        "erased_identity",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erasure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "hash", name=op.f("pk_erased_identity")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("erased_identity", schema=S)
    op.drop_table("erased_ref", schema=S)
    op.drop_table("erasure", schema=S)
