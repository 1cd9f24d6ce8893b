"""SQLite schema and named queries."""
