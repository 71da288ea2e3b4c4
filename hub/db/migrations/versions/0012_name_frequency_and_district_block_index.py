"""match keys: counts per name, and the sound-key block's index down to the kecamatan

Revision 0012, after 0011

`name_frequency` holds how many match keys carry each name (term frequencies for an
incremental run). The blocking rule sound key + birth year is scoped to the kecamatan:
its index now includes `district_code`, so a look-up no longer filters the whole
regency's namesakes born that year.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "name_frequency",
        sa.Column("name_norm", sa.String(length=120), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name_norm", name=op.f("pk_name_frequency")),
    )
    op.execute("INSERT INTO name_frequency (name_norm, records) "
               "SELECT name_norm, count(*) FROM match_key GROUP BY name_norm")
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index("ix_match_key_name_key_birth_year")
        batch_op.create_index("ix_match_key_name_key_birth_year_district",
                              ["name_key", "birth_year", "district_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index("ix_match_key_name_key_birth_year_district")
        batch_op.create_index("ix_match_key_name_key_birth_year", ["name_key", "birth_year"],
                              unique=False)
    op.drop_table("name_frequency")
