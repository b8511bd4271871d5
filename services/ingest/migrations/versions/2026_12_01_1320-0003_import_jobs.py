"""import jobs: trade-show imports and purchased-list imports become background jobs

The stored file (in chunks), progress and a worker's lease live in ``import_job``;
``import_row`` keeps the per-row results, now of any job. Existing trade-show imports
become finished jobs with the same ids, so a re-upload still finds them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("topic_prefix", sa.String(100), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=True),
        sa.Column("show_id", sa.String(64), nullable=True),
        sa.Column("show_name", sa.String(200), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("file_name", sa.String(300), nullable=True),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        sa.Column("column_mapping", postgresql.JSONB(), nullable=False),
        sa.Column("ignored_columns", postgresql.JSONB(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("accepted_rows", sa.Integer(), nullable=False),
        sa.Column("rejected_rows", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("next_chunk", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_job"),
        schema=S,
    )
    op.create_index("ix_ingest_import_job_status", "import_job", ["status"], schema=S)
    op.create_index("ix_ingest_import_job_show_id", "import_job", ["show_id"], schema=S)
    op.create_table(
        "import_chunk",
        sa.Column("import_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            [f"{S}.import_job.id"],
            name="fk_import_chunk_import_id_import_job",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name="pk_import_chunk"),
        schema=S,
    )
    # every trade-show import so far was published whole in its request: a finished job
    op.execute(
        f"""
        INSERT INTO {S}.import_job (
            id, kind, status, topic_prefix, show_id, show_name, end_date, timezone,
            file_name, file_sha256, file_bytes, fields, column_mapping, ignored_columns,
            total_rows, accepted_rows, rejected_rows, chunk_count, next_chunk,
            created_at, started_at, finished_at, updated_at
        )
        SELECT id, 'trade_show', 'done', '', show_id, show_name, end_date, timezone,
               file_name, file_sha256, 0, '[]'::jsonb, column_mapping, ignored_columns,
               total_rows, accepted_rows, rejected_rows, 0, 0,
               created_at, created_at, created_at, created_at
        FROM {S}.trade_show_import
        """
    )
    op.drop_constraint(
        "fk_import_row_import_id_trade_show_import", "import_row", schema=S, type_="foreignkey"
    )
    op.create_foreign_key(
        "fk_import_row_import_id_import_job",
        "import_row",
        "import_job",
        ["import_id"],
        ["id"],
        source_schema=S,
        referent_schema=S,
        ondelete="CASCADE",
    )
    op.create_index(
        "ix_ingest_import_row_rejected",
        "import_row",
        ["import_id", "row_number"],
        schema=S,
        postgresql_where=sa.text("status = 'rejected'"),
    )
    op.drop_table("trade_show_import", schema=S)


def downgrade() -> None:
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
    op.create_index(
        "ix_ingest_trade_show_import_show_id", "trade_show_import", ["show_id"], schema=S
    )
    # finished trade-show jobs go back; list imports and unfinished jobs have no place there
    op.execute(
        f"""
        INSERT INTO {S}.trade_show_import (
            id, show_id, show_name, end_date, timezone, file_name, file_sha256,
            total_rows, accepted_rows, rejected_rows, column_mapping, ignored_columns, created_at
        )
        SELECT id, show_id, show_name, end_date, timezone, file_name, file_sha256,
               accepted_rows + rejected_rows, accepted_rows, rejected_rows,
               column_mapping, ignored_columns, created_at
        FROM {S}.import_job WHERE kind = 'trade_show' AND status = 'done'
        """
    )
    op.execute(
        f"DELETE FROM {S}.import_row WHERE import_id NOT IN (SELECT id FROM {S}.trade_show_import)"
    )
    op.drop_index("ix_ingest_import_row_rejected", "import_row", schema=S)
    op.drop_constraint(
        "fk_import_row_import_id_import_job", "import_row", schema=S, type_="foreignkey"
    )
    op.create_foreign_key(
        "fk_import_row_import_id_trade_show_import",
        "import_row",
        "trade_show_import",
        ["import_id"],
        ["id"],
        source_schema=S,
        referent_schema=S,
        ondelete="CASCADE",
    )
    op.drop_table("import_chunk", schema=S)
    op.drop_table("import_job", schema=S)
