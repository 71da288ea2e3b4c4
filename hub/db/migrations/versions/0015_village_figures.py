"""village figures: households, persons and programme coverage per village

Revision 0015, after 0014

Region statistics were two aggregates over every person and enrolment in the region,
seconds per request for a regency of a million. The figures are now kept per village,
recounted in the same transaction as each write, and summed over a region's villages.
The upgrade counts every village once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "village_figure",
        sa.Column("id", ID, nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("desil", sa.SmallInteger(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_figure")),
    )
    op.create_index(op.f("ix_village_figure_village_code"), "village_figure",
                    ["village_code"])
    op.create_table(
        "village_coverage",
        sa.Column("id", ID, nullable=False),
        sa.Column("village_code", sa.String(length=13), nullable=False),
        sa.Column("program", sa.String(length=20), nullable=False),
        sa.Column("enrolled_persons", sa.Integer(), nullable=False),
        sa.Column("enrolled_households", sa.Integer(), nullable=False),
        sa.Column("poor_enrolled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_coverage")),
    )
    op.create_index(op.f("ix_village_coverage_village_code"), "village_coverage",
                    ["village_code"])
    op.execute("""
        INSERT INTO village_figure (village_code, desil, households, persons)
        SELECT h.village_code, h.desil, count(DISTINCT h.id), count(p.id)
        FROM household h LEFT JOIN person p ON p.household_id = h.id AND p.alive
        GROUP BY h.village_code, h.desil""")
    op.execute("""
        INSERT INTO village_coverage (village_code, program, enrolled_persons,
                                      enrolled_households, poor_enrolled)
        SELECT h.village_code, e.program, count(DISTINCT e.person_id),
               count(DISTINCT p.household_id),
               count(DISTINCT CASE WHEN h.desil <= 4 THEN e.person_id END)
        FROM enrollment e JOIN person p ON p.id = e.person_id
        JOIN household h ON h.id = p.household_id
        WHERE e.status = 'ACTIVE' AND p.alive
        GROUP BY h.village_code, e.program""")


def downgrade() -> None:
    op.drop_index(op.f("ix_village_coverage_village_code"), table_name="village_coverage")
    op.drop_table("village_coverage")
    op.drop_index(op.f("ix_village_figure_village_code"), table_name="village_figure")
    op.drop_table("village_figure")
