"""practice: tenant-authored scenarios, assignments with due dates, free-form drills

Revision ID: 0004_practice_authoring
Revises: 0003_task_locks
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_practice_authoring'
down_revision = '0003_task_locks'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(), 'postgresql')


def upgrade() -> None:
    op.create_table('practice_scenarios',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('yaml_text', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'scenario_id')
    )
    with op.batch_alter_table('practice_scenarios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_scenarios_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('practice_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('assigned_by', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('practice_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_assignments_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_assignments_user_id'), ['user_id'], unique=False)

    op.create_table('practice_drills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('customer_line', sa.Text(), nullable=False),
    sa.Column('reply_text', sa.Text(), nullable=False),
    sa.Column('scenario_id', sa.String(length=64), nullable=False),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('scores', JSON, nullable=False),
    sa.Column('improved', sa.Text(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('practice_drills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_drills_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_drills_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('practice_drills')
    op.drop_table('practice_assignments')
    op.drop_table('practice_scenarios')
