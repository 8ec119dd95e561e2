"""Orders in, points out: recording an order once per (source, external id), refunds, historical
orders in bulk, interactions that earn the same way (check-in, review, share) and the per-rule
usage behind caps."""
