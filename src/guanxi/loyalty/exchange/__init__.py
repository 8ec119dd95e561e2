"""Points that come from outside a member's own orders: referrals (a code, a referee, both rewarded
on the first qualifying order) and partner programs (exchange in and out, the settlement
ledger), with their shapes and router."""
