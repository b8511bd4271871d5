"""scoring history: ``scoring_version`` (each rules version, its file's text, when routers
loaded it) and ``scoring_evaluation`` (evaluations of a version against outcomes); versions
already stored with scores are backfilled, their content unknown

Revision ID: 0008_scoring_history
Revises: 0007
Create Date: 2026-12-02 04:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_scoring_history"
down_revision = "0007"
branch_labels = None
depends_on = None

S = "router"

# One pass over each table, grouped once: every version a stored score names (a lead's current
# score, every routing decision's), with when scores of it were first and last stored. The
# version is in the JSON (score_breakdown / score ->> 'rules_version'); no index is needed or
# built for a one-off scan.
BACKFILL = f"""
INSERT INTO {S}.scoring_version (version, recorded_from, first_loaded_at, last_loaded_at)
SELECT version, 'scores', min(at), max(at)
FROM (
    SELECT score ->> 'rules_version' AS version, decided_at AS at FROM {S}.assignment
    UNION ALL
    SELECT score_breakdown ->> 'rules_version', updated_at FROM {S}.lead
) AS stored
WHERE version IS NOT NULL AND length(version) <= 12
GROUP BY version
"""


def upgrade() -> None:
    op.create_table(
        "scoring_version",
        sa.Column("version", sa.String(12), nullable=False),
        sa.Column("recorded_from", sa.String(8), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("criteria_count", sa.Integer(), nullable=True),
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("first_loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_scoring_version")),
        schema=S,
    )
    op.create_index(
        "ix_router_scoring_version_first_loaded_at",
        "scoring_version",
        ["first_loaded_at"],
        schema=S,
    )
    op.create_table(
        "scoring_evaluation",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("rules_version", sa.String(12), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("positives", sa.Integer(), nullable=False),
        sa.Column("auc", sa.Float(), nullable=True),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_evaluation")),
        schema=S,
    )
    op.create_index(
        "ix_router_scoring_evaluation_version_computed",
        "scoring_evaluation",
        ["rules_version", "computed_at"],
        schema=S,
    )
    op.create_index(
        "ix_router_scoring_evaluation_computed_at",
        "scoring_evaluation",
        ["computed_at"],
        schema=S,
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("scoring_evaluation", schema=S)
    op.drop_table("scoring_version", schema=S)
