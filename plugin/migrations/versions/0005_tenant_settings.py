"""tenancy: per-tenant settings (JSON), e.g. crm_notes_include_coaching

Revision ID: 0005_tenant_settings
Revises: 0004_practice_authoring
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_tenant_settings'
down_revision = '0004_practice_authoring'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('settings', sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('settings')
