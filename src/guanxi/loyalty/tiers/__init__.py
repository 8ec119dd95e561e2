"""Growth value and tier movement: upgrades as thresholds are crossed, downgrades at the periodic
review, the tier history and its outbox events. The ladder's decisions are pure and live in
`loyalty.rules.tiering`."""
