"""A member as the till, the app and staff see them: the card (one row) and the statement, points
moved by hand (redemption, adjustments with approval, transfers), and the HTTP API for orders,
refunds, the card and those moves."""
