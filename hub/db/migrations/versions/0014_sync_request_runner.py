"""sync requests: who runs one, and how many times it was started

Revision 0014, after 0013

A request taken by a scheduler that then died stayed RUNNING forever. With its runner
recorded, the next leader sees that the runner holds no lease any more and queues the
request again (`attempts` counts the starts, so one that kills its runner every time
stops after a few).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_request", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("runner")
