"""Teachers, classes, memberships, the throttle of failed attempts, and the signing secret.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tutor_teachers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("token_id", sa.String(32), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "tutor_classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("teacher_id", sa.Integer, sa.ForeignKey("tutor_teachers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("join_code", sa.String(16), nullable=False, unique=True),
        sa.Column("pseudonymise", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tutor_classes_teacher_id", "tutor_classes", ["teacher_id"])
    op.create_table(
        "tutor_memberships",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255), nullable=False, unique=True),
        sa.Column("class_id", sa.Integer, sa.ForeignKey("tutor_classes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("joined_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tutor_memberships_class_id", "tutor_memberships", ["class_id"])
    op.create_table(
        "tutor_throttle",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_tutor_throttle_kind_key_at", "tutor_throttle", ["kind", "key", "at"])
    op.create_table(
        "tutor_secrets",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    for table in ("tutor_secrets", "tutor_throttle", "tutor_memberships", "tutor_classes", "tutor_teachers"):
        op.drop_table(table)
