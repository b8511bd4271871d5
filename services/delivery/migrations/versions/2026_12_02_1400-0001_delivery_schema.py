"""delivery schema

Revision ID: 0001
Revises:
Create Date: 2026-12-02 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "delivery"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "endpoint",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=16), nullable=True),
        _ts("disabled_at", True),
        _ts("failing_since", True),
        _ts("last_success_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint")),
        schema=S,
    )
    op.create_table(
        "endpoint_secret",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("expires_at", True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["delivery.endpoint.id"],
            name=op.f("fk_endpoint_secret_endpoint_id_endpoint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_secret")),
        schema=S,
    )
    op.create_index(
        op.f("ix_delivery_endpoint_secret_endpoint_id"),
        "endpoint_secret",
        ["endpoint_id"],
        unique=False,
        schema=S,
    )
    op.create_table(
        "event",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("lead_id", sa.UUID(), nullable=True),
        _ts("time"),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _ts("stored_at"),
        _ts("erased_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        schema=S,
    )
    op.create_index("ix_event_stored_at", "event", ["stored_at"], unique=False, schema=S)
    op.create_index("ix_event_lead_id", "event", ["lead_id"], unique=False, schema=S)
    op.create_index("ix_event_time", "event", ["time"], unique=False, schema=S)
    op.create_table(
        "lead_sequence",
        sa.Column("lead_id", sa.UUID(), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_sequence")),
        schema=S,
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _ts("next_attempt_at", True),
        _ts("leased_until", True),
        sa.Column("lease_token", sa.UUID(), nullable=True),
        _ts("created_at"),
        _ts("finished_at", True),
        sa.Column("skipped_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["delivery.endpoint.id"],
            name=op.f("fk_delivery_endpoint_id_endpoint"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["delivery.event.id"],
            name=op.f("fk_delivery_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        schema=S,
    )
    op.create_index(
        op.f("ix_delivery_delivery_event_id"), "delivery", ["event_id"], unique=False, schema=S
    )
    op.create_index(
        "uq_delivery_live",
        "delivery",
        ["endpoint_id", "event_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("origin = 'live'"),
    )
    op.create_index(
        "ix_delivery_due",
        "delivery",
        ["next_attempt_at"],
        unique=False,
        schema=S,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_delivery_endpoint_state", "delivery", ["endpoint_id", "state"], unique=False, schema=S
    )
    op.create_table(
        "attempt",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _ts("started_at"),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.delivery.id"],
            name=op.f("fk_attempt_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt")),
        schema=S,
    )
    op.create_index(
        op.f("ix_delivery_attempt_delivery_id"), "attempt", ["delivery_id"], unique=False, schema=S
    )
    op.create_index(
        "ix_attempt_endpoint_started",
        "attempt",
        ["endpoint_id", "started_at"],
        unique=False,
        schema=S,
    )
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        _ts("processed_at"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_event")),
        schema=S,
    )
    op.create_index(
        op.f("ix_delivery_processed_event_processed_at"),
        "processed_event",
        ["processed_at"],
        unique=False,
        schema=S,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema=S,
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "processed_event",
        "attempt",
        "delivery",
        "lead_sequence",
        "event",
        "endpoint_secret",
        "endpoint",
    ):
        op.drop_table(table, schema=S)
