"""Imports every model module so Base.metadata knows the whole schema (for Alembic and tests)."""

from guanxi.analytics import models as analytics_models
from guanxi.auth import models as auth_models
from guanxi.customers import event_models, merge_models, quality_models, tag_history
from guanxi.customers import models as customer_models
from guanxi.dataio import models as dataio_models
from guanxi.kit import idempotency, outbox, runs, sequence
from guanxi.kit.models import Base
from guanxi.loyalty.catalog import models as catalog_models
from guanxi.loyalty.currency import models as currency_models
from guanxi.loyalty.exchange import models as partner_models
from guanxi.loyalty.orders import models as order_models
from guanxi.loyalty.program import models as loyalty_models
from guanxi.marketing import models as marketing_models
from guanxi.privacy import models as privacy_models

__all__ = [
    "Base",
    "analytics_models",
    "auth_models",
    "catalog_models",
    "currency_models",
    "customer_models",
    "dataio_models",
    "event_models",
    "idempotency",
    "loyalty_models",
    "marketing_models",
    "merge_models",
    "order_models",
    "outbox",
    "partner_models",
    "privacy_models",
    "quality_models",
    "runs",
    "sequence",
    "tag_history",
]
metadata = Base.metadata
