"""presence rows found by subject

A subject's sockets are summed over all servers at every socket's opening and closing
(``agents.presence``), by kind and subject id; the primary key starts with the server id, so
each count read every presence row: with 1,000 visitors connected, a burst of arrivals spent
more time there than anywhere else (docs/benchmarks.md, seventh round).

Revision ID: 9b3f2c7d4e61
Revises: 5d2e8b41c9a7
Create Date: 2026-12-05 10:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9b3f2c7d4e61"
down_revision: str | None = "5d2e8b41c9a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.create_index("ix_presence_subject", ["kind", "subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.drop_index("ix_presence_subject")
