"""Marketing: segments compiled to SQL, rule-based tags; later templates, campaigns, journeys."""

# Segment memberships follow merges and show on the customer 360 wherever marketing is loaded.
from guanxi.marketing import customer_links as _customer_links  # noqa: F401
