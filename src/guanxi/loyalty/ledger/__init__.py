"""THE points ledger: the only code that changes a balance (lock, enrol, credit, debit, reverse,
transfer, release), the end-of-day jobs on it (expiry, pending release, reminders) and the check
of every invariant (`guanxi loyalty verify`)."""
