"""privacy: audit log of admin actions, receipts of exports, erasures and retention runs,
recording consent on calls

Revision ID: 0006_privacy
Revises: 0005_tenant_settings
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_privacy'
down_revision = '0005_tenant_settings'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('calls') as batch:
        batch.add_column(sa.Column('consent_policy', sa.String(length=16), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('consent', sa.String(length=16), nullable=False,
                                   server_default=''))
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('actor_name', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('details', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)

    op.create_table('privacy_receipts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=255), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('counts', JSON, nullable=False),
    sa.Column('ids', JSON, nullable=False),
    sa.Column('files', JSON, nullable=False),
    sa.Column('crm_activities', JSON, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('privacy_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_receipts_tenant_id'), ['tenant_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('privacy_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_receipts_tenant_id'))
    op.drop_table('privacy_receipts')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_tenant_id'))
    op.drop_table('audit_events')
    with op.batch_alter_table('calls') as batch:
        batch.drop_column('consent')
        batch.drop_column('consent_policy')
