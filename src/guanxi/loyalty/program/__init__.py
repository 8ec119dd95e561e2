"""The program as every other part reads it: its tables and its members' (program, tiers, earning
rules, accounts, ledger entries, lots), the immutable `ProgramConfig` cached per version, the
settings that configure it, and the API shapes and errors the sub-packages share."""
