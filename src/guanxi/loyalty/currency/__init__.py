"""Exchange rates an administrator maintains: how many units of the program's currency one unit of
another currency is worth on a given day, so orders paid in that currency count in the program's
(see docs/currency.md)."""
