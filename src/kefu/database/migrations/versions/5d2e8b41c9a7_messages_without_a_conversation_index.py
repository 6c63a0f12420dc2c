"""messages without an index by conversation

Every stored message wrote a page of this index (a different one per conversation), and only
the newest-message-of-a-conversation query read it; that query now goes through the visitor's
messages. Measured: a group commit of 50 chat messages costs SQLite 66 µs a message with the
index and 47 µs without it (docs/benchmarks.md, sixth round).

Revision ID: 5d2e8b41c9a7
Revises: 87d767355cd6
Create Date: 2026-12-05 08:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d2e8b41c9a7"
down_revision: str | None = "87d767355cd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conversation")


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_conversation", ["conversation_id", "seq"], unique=False)
