"""figures: funnel_cells, each 団体's funnel counts (but moved_in) in value order, filled from the counters; the counter rows with a moved_in

Revision ID: a7c3e5f19d42
Revises: 236bde19bce9
Create Date: 2026-12-05 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e5f19d42'
down_revision = '236bde19bce9'
branch_labels = None
depends_on = None

# The stages and the figure_counters column each is kept in (registry/figures/stages.py, as of this
# revision), moved_in left out.
COLUMNS = {"registered": "registered", "applied": "people", "completed_activity": "registrations",
           "premium": "premium", "renewed": "withdrawn"}


def upgrade():
    op.create_table('funnel_cells',
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=24), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('metric', 'stage', 'key', name=op.f('pk_funnel_cells'))
    )
    op.create_index('ix_funnel_cells_order', 'funnel_cells', ['metric', 'stage', 'value', 'key'], unique=False)
    op.execute("INSERT INTO funnel_cells (metric, stage, key, value) SELECT metric, stage, key, value FROM ("
               + " UNION ALL ".join(
                   f"SELECT metric, '{stage}' AS stage, key, SUM({column}) AS value FROM figure_counters "
                   "WHERE metric LIKE 'funnel:%' AND key NOT IN ('*', '+') GROUP BY metric, key"
                   for stage, column in COLUMNS.items())
               + ") AS c WHERE value <> 0")
    op.create_index('ix_figure_counters_moved_in', 'figure_counters', ['metric', 'key'], unique=False,
                    postgresql_where=sa.text('moved_in <> 0'), sqlite_where=sa.text('moved_in <> 0'))


def downgrade():
    op.drop_index('ix_figure_counters_moved_in', table_name='figure_counters',
                  postgresql_where=sa.text('moved_in <> 0'), sqlite_where=sa.text('moved_in <> 0'))
    op.drop_index('ix_funnel_cells_order', table_name='funnel_cells')
    op.drop_table('funnel_cells')
