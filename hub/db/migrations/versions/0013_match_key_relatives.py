"""match keys: the relatives in each record's family

Revision 0013, after 0012

`match_key.relatives` holds the sound keys of the names of the other members of the
record's family in its agency's list (`hub.domain.relatives`): linkage compares them
where the KK numbers do not settle a pair. Filled by the next reconciliation run, which
retrains its model because the comparisons changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relatives", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_column("relatives")
