"""right to erasure: the tombstone of each erasure nurture applied (counts), the lead and
submission ids it erased, and the do-not-contact list of erased people's hashed identities

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

S = "nurture"


def upgrade() -> None:
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
    op.create_table(
        "erased_ref",
        sa.Column("ref_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("erasure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("ref_id", name=op.f("pk_erased_ref")),
        sa.ForeignKeyConstraint(
            ["erasure_id"], [f"{S}.erasure.id"], name=op.f("fk_erased_ref_erasure_id_erasure")
        ),
        schema=S,
    )
    op.create_table(
        "do_not_contact",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erasure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "hash", name=op.f("pk_do_not_contact")),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("do_not_contact", schema=S)
    op.drop_table("erased_ref", schema=S)
    op.drop_table("erasure", schema=S)
