"""lead search: indexes for ``GET /v1/admin/leads`` — the page order (received_at, id), status
within a team, owner and source each in page order, and the lower-case "C"-collated prefix
expressions ``q`` matches (full name, last name, email, company); drops the owner index of
revision 0001 (``ix_router_lead_owner_rep_id``), which the owner-first index covers

Plain ``CREATE INDEX`` (not ``CONCURRENTLY``): the migration environment runs every revision
inside a transaction, where ``CONCURRENTLY`` is not allowed. Building them locks writes to
``router.lead`` for the build (seconds per index at a million leads); on a large live table
build them by hand with ``CREATE INDEX CONCURRENTLY`` first (same names and definitions) and
this revision finds them (``IF NOT EXISTS``).

Revision ID: 0009_lead_search
Revises: 0008_scoring_history
Create Date: 2026-12-02 14:00:00
"""

from alembic import op

revision = "0009_lead_search"
down_revision = "0008_scoring_history"
branch_labels = None
depends_on = None

S = "router"

FULL_NAME = "(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))"
INDEXES = {
    "ix_router_lead_received": "received_at, id",
    "ix_router_lead_team_status_received": "team_id, status, received_at, id",
    "ix_router_lead_owner_received": "owner_rep_id, received_at, id",
    "ix_router_lead_source_received": "source_id, received_at, id",
    "ix_router_lead_q_full_name": f'(lower({FULL_NAME}) COLLATE "C")',
    "ix_router_lead_q_last_name": '(lower(last_name) COLLATE "C")',
    "ix_router_lead_q_email": "(lower(profile ->> 'email') COLLATE \"C\")",
    "ix_router_lead_q_company": "(lower(profile ->> 'company') COLLATE \"C\")",
}


# covered by ix_router_lead_owner_received (its leading column)
OWNER_INDEX, OWNER_COLUMNS = "ix_router_lead_owner_rep_id", "owner_rep_id"


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {S}.lead ({columns})")
    op.execute(f"DROP INDEX IF EXISTS {S}.{OWNER_INDEX}")


def downgrade() -> None:
    op.execute(f"CREATE INDEX IF NOT EXISTS {OWNER_INDEX} ON {S}.lead ({OWNER_COLUMNS})")
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {S}.{name}")
