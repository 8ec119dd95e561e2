"""The analytics warehouse: DuckDB tables fed incrementally from the operational database."""
