"""after assignment: sales status and lifecycle stage of each lead, their history, the
dedupe review list; team recycling, away and holiday settings; rep period caps and holidays

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "router"


def upgrade() -> None:
    lead = [
        sa.Column("sales_status", sa.String(16), nullable=True),
        sa.Column("sales_status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disqualify_reason", sa.String(32), nullable=True),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="lead"),
        sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_owner_rep_id", sa.String(64), nullable=True),
        sa.Column("owned_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_worked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recycled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duplicate_of", sa.UUID(), nullable=True),
    ]
    for column in lead:
        op.add_column("lead", column, schema=S)
    # Leads already stored: their stage from what is known of them.
    op.execute(
        """
        UPDATE router.lead SET
          lifecycle_stage = CASE
            WHEN status = 'converted' THEN 'customer'
            WHEN is_name THEN 'name'
            WHEN stage = 'sql' THEN 'sql'
            WHEN stage = 'mql' THEN 'mql'
            ELSE 'lead' END,
          stage_entered_at = created_at,
          owned_since = CASE WHEN status = 'assigned' THEN updated_at END,
          last_worked_at = CASE WHEN status = 'assigned'
                                THEN GREATEST(updated_at, COALESCE(first_touch_at, updated_at)) END,
          last_owner_rep_id = owner_rep_id
        """
    )
    op.alter_column("lead", "stage_entered_at", nullable=False, schema=S)
    op.create_index(
        "ix_router_lead_recycle",
        "lead",
        ["team_id", "last_worked_at"],
        schema=S,
        postgresql_where=sa.text("status = 'assigned'"),
    )
    op.create_index("ix_router_lead_lifecycle_stage", "lead", ["lifecycle_stage"], schema=S)

    op.create_table(
        "lead_stage",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("previous_stage", sa.String(16), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["router.lead.id"], name=op.f("fk_lead_stage_lead_id_lead")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_stage")),
        schema=S,
    )
    op.create_index("ix_router_lead_stage_lead_id", "lead_stage", ["lead_id"], schema=S)
    op.create_index("ix_router_lead_stage_entered", "lead_stage", ["stage", "entered_at"], schema=S)
    op.execute(
        """
        INSERT INTO router.lead_stage (id, lead_id, stage, previous_stage, entered_at, cause)
        SELECT gen_random_uuid(), id, lifecycle_stage, NULL, created_at, 'migrated'
        FROM router.lead
        """
    )

    op.create_table(
        "lead_status_change",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("duplicate_of", sa.UUID(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("cause_event_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["router.lead.id"], name=op.f("fk_lead_status_change_lead_id_lead")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_status_change")),
        schema=S,
    )
    op.create_index(
        "ix_router_lead_status_change_lead",
        "lead_status_change",
        ["lead_id", "occurred_at"],
        schema=S,
    )

    op.create_table(
        "duplicate_review",
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("other_lead_id", sa.UUID(), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("lead_id", "other_lead_id", name=op.f("pk_duplicate_review")),
        schema=S,
    )
    op.create_index("ix_router_duplicate_review_status", "duplicate_review", ["status"], schema=S)

    team = [
        sa.Column("recycle_after_days", sa.Integer(), nullable=False, server_default="30"),
        sa.Column("away_after_days", sa.Integer(), nullable=False, server_default="3"),
        sa.Column("on_rep_away", sa.String(8), nullable=False, server_default="reroute"),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("subdivision", sa.String(16), nullable=True),
        sa.Column(
            "holidays", postgresql.JSONB(astext_type=sa.Text()), nullable=False, server_default="[]"
        ),
    ]
    for column in team:
        op.add_column("team", column, schema=S)
    rep = [
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("weekly_cap", sa.Integer(), nullable=True),
        sa.Column("cap_day", sa.Date(), nullable=True),
        sa.Column("day_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cap_week", sa.Date(), nullable=True),
        sa.Column("week_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("subdivision", sa.String(16), nullable=True),
        sa.Column(
            "holidays", postgresql.JSONB(astext_type=sa.Text()), nullable=False, server_default="[]"
        ),
    ]
    for column in rep:
        op.add_column("rep", column, schema=S)


def downgrade() -> None:
    for column in ("daily_cap", "weekly_cap", "cap_day", "day_count", "cap_week", "week_count",
                   "country", "subdivision", "holidays"):  # fmt: skip
        op.drop_column("rep", column, schema=S)
    for column in ("recycle_after_days", "away_after_days", "on_rep_away", "country",
                   "subdivision", "holidays"):  # fmt: skip
        op.drop_column("team", column, schema=S)
    op.drop_index("ix_router_duplicate_review_status", table_name="duplicate_review", schema=S)
    op.drop_table("duplicate_review", schema=S)
    op.drop_index("ix_router_lead_status_change_lead", table_name="lead_status_change", schema=S)
    op.drop_table("lead_status_change", schema=S)
    op.drop_index("ix_router_lead_stage_entered", table_name="lead_stage", schema=S)
    op.drop_index("ix_router_lead_stage_lead_id", table_name="lead_stage", schema=S)
    op.drop_table("lead_stage", schema=S)
    op.drop_index("ix_router_lead_lifecycle_stage", table_name="lead", schema=S)
    op.drop_index("ix_router_lead_recycle", table_name="lead", schema=S)
    for column in ("sales_status", "sales_status_at", "disqualify_reason", "lifecycle_stage",
                   "stage_entered_at", "last_owner_rep_id", "owned_since", "last_worked_at",
                   "recycled_at", "duplicate_of"):  # fmt: skip
        op.drop_column("lead", column, schema=S)
