"""Imports every model module so Base.metadata knows the whole schema (for Alembic and tests)."""

from guanxi.auth import models as auth_models
from guanxi.customers import models as customer_models
from guanxi.kit import outbox, sequence
from guanxi.kit.models import Base
from guanxi.privacy import models as privacy_models

__all__ = ["Base", "auth_models", "customer_models", "outbox", "privacy_models", "sequence"]
metadata = Base.metadata
