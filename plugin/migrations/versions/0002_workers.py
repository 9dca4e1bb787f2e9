"""workers: outbox claim lease and retry schedule

Revision ID: 0002_workers
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_workers'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=255), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_outbox_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
