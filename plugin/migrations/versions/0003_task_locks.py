"""workers: task locks (one stage run per key at a time)

Revision ID: 0003_task_locks
Revises: 0002_workers
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_task_locks'
down_revision = '0002_workers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_locks',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('task_locks')
