"""Alerts: what raises one, how it is told (Apprise channels), and the error window (docs/alerts.md)."""
