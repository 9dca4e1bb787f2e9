"""walls: teams (a manager sees their team's calls) and report-link revocation

Revision ID: 0007_teams
Revises: 0006_privacy
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_teams'
down_revision = '0006_privacy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name')
    )
    op.create_index(op.f('ix_teams_tenant_id'), 'teams', ['tenant_id'], unique=False)
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_users_team_id', 'teams', ['team_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index('ix_users_team_id', ['team_id'], unique=False)
    with op.batch_alter_table('calls') as batch:
        batch.add_column(sa.Column('shares_revoked_at', sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calls') as batch:
        batch.drop_column('shares_revoked_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_index('ix_users_team_id')
        batch.drop_constraint('fk_users_team_id', type_='foreignkey')
        batch.drop_column('team_id')
    op.drop_index(op.f('ix_teams_tenant_id'), table_name='teams')
    op.drop_table('teams')
