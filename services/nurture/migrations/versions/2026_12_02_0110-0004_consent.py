"""consent: a lead's country and its consent per marketing channel, as history; leads already
in nurture get consent "unknown" on email and SMS (nurture never kept marketing_consent
before: the setting LEADFLOW_NURTURE_UNKNOWN_CONSENT decides for them where opt-in is needed)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "nurture"


def upgrade() -> None:
    op.add_column("lead", sa.Column("country", sa.String(2), nullable=True), schema=S)
    op.add_column(
        "lead",
        sa.Column("consent_skips", sa.Integer(), nullable=False, server_default="0"),
        schema=S,
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(160), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["nurture.lead.id"], name=op.f("fk_consent_lead_id_lead")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        schema=S,
    )  # fmt: skip
    op.create_index("ix_consent_lead", "consent", ["lead_id", "channel", "recorded_at"], schema=S)
    op.create_index("uq_consent_event", "consent", ["event_id", "channel"], unique=True, schema=S)
    op.execute(
        "INSERT INTO nurture.consent (lead_id, channel, state, source, recorded_at) "
        "SELECT l.id, c.channel, 'unknown', 'migration', now() "
        "FROM nurture.lead AS l CROSS JOIN (VALUES ('email'), ('sms')) AS c(channel)"
    )


def downgrade() -> None:
    op.drop_index("uq_consent_event", table_name="consent", schema=S)
    op.drop_index("ix_consent_lead", table_name="consent", schema=S)
    op.drop_table("consent", schema=S)
    op.drop_column("lead", "consent_skips", schema=S)
    op.drop_column("lead", "country", schema=S)
