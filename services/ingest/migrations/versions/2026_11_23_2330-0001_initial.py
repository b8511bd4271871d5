"""ingest schema: idempotency keys, trade-show imports

Revision ID: 0001
Revises:
Create Date: 2026-11-23 23:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("webhook_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("response_status", sa.SmallInteger(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "key", name="pk_idempotency_key"),
        schema=S,
    )
    op.create_index("ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"], schema=S)
    op.create_table(
        "trade_show_import",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("show_id", sa.String(64), nullable=False),
        sa.Column("show_name", sa.String(200), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("accepted_rows", sa.Integer(), nullable=False),
        sa.Column("rejected_rows", sa.Integer(), nullable=False),
        sa.Column("column_mapping", postgresql.JSONB(), nullable=False),
        sa.Column("ignored_columns", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_show_import"),
        schema=S,
    )
    op.create_index("ix_trade_show_import_show_id", "trade_show_import", ["show_id"], schema=S)
    op.create_table(
        "import_row",
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lead_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("errors", postgresql.JSONB(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            [f"{S}.trade_show_import.id"],
            name="fk_import_row_import_id_trade_show_import",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "row_number", name="pk_import_row"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("import_row", schema=S)
    op.drop_table("trade_show_import", schema=S)
    op.drop_table("idempotency_key", schema=S)
