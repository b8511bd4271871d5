"""dedupe a sales team can trust: identities shared by several leads, shared numbers and
addresses that stopped being match keys, each lead's second company key (its name when its
first is a domain), the fields of each submission (to split them out again), the merge and
split history, and who decided a duplicate review

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "router"


def upgrade() -> None:
    # A phone (or a role address) may now belong to several leads: two colleagues behind one
    # switchboard number are two leads, and both keep the number.
    op.drop_constraint("pk_lead_identity", "lead_identity", schema=S)
    op.create_primary_key(
        "pk_lead_identity", "lead_identity", ["kind", "value", "lead_id"], schema=S
    )

    op.create_table(
        "shared_identity",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),  # role_address | many_people
        sa.Column("lead_count", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_shared_identity")),
        schema=S,
    )

    op.add_column("lead", sa.Column("company_name_key", sa.String(300), nullable=True), schema=S)
    op.add_column("lead", sa.Column("merged_into", sa.UUID(), nullable=True), schema=S)
    op.create_index(
        "ix_router_lead_company_name_key",
        "lead",
        ["company_name_key"],
        schema=S,
        postgresql_where=sa.text("company_name_key IS NOT NULL"),
    )

    op.add_column(
        "lead_submission",
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema=S,
    )
    op.add_column(
        "lead_submission",
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema=S,
    )

    op.create_table(
        "lead_merge",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),  # merge | split
        # merge: the lead that survives; split: the lead the submissions left
        sa.Column("lead_id", sa.UUID(), nullable=False),
        # merge: the lead merged into it; split: the new lead
        sa.Column("other_lead_id", sa.UUID(), nullable=False),
        sa.Column("submission_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("identities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_merge")),
        schema=S,
    )
    op.create_index("ix_router_lead_merge_lead", "lead_merge", ["lead_id"], schema=S)
    op.create_index("ix_router_lead_merge_other", "lead_merge", ["other_lead_id"], schema=S)

    op.add_column(
        "duplicate_review", sa.Column("decided_by", sa.String(64), nullable=True), schema=S
    )
    op.add_column("duplicate_review", sa.Column("note", sa.Text(), nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("duplicate_review", "note", schema=S)
    op.drop_column("duplicate_review", "decided_by", schema=S)
    op.drop_index("ix_router_lead_merge_other", table_name="lead_merge", schema=S)
    op.drop_index("ix_router_lead_merge_lead", table_name="lead_merge", schema=S)
    op.drop_table("lead_merge", schema=S)
    op.drop_column("lead_submission", "evidence", schema=S)
    op.drop_column("lead_submission", "fields", schema=S)
    op.drop_index("ix_router_lead_company_name_key", table_name="lead", schema=S)
    op.drop_column("lead", "merged_into", schema=S)
    op.drop_column("lead", "company_name_key", schema=S)
    op.drop_table("shared_identity", schema=S)
    # one lead per identity again: the oldest claim of a shared value keeps it
    op.execute(
        "DELETE FROM router.lead_identity AS i USING router.lead_identity AS j"
        " WHERE i.kind = j.kind AND i.value = j.value AND i.lead_id > j.lead_id"
    )
    op.drop_constraint("pk_lead_identity", "lead_identity", schema=S)
    op.create_primary_key("pk_lead_identity", "lead_identity", ["kind", "value"], schema=S)
