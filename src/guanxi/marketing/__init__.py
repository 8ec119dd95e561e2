"""Marketing: segments compiled to SQL, rule-based tags; later templates, campaigns, journeys."""

# Segment memberships follow merges and show on the customer 360 wherever marketing is loaded.
from guanxi.marketing import customer_links as _customer_links  # noqa: F401

# Province, city and district conditions match by division code (the compiler's place kind).
from guanxi.marketing import place_rules as _place_rules  # noqa: F401

# The analytics' scores (RFM segment, lifecycle stage, value tier, CLV, churn) as condition fields.
from guanxi.marketing import score_fields as _score_fields  # noqa: F401
