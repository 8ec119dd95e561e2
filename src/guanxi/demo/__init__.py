"""Realistic, seeded demo data: staff of every role, customers, identities, tags, notes, B2B accounts.

`loader.load(database, customers=N)` fills an empty database once (`guanxi demo`); `generate`
produces the people and companies without touching a database; `data` holds the reference lists.
"""
