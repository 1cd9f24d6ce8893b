"""Controller services: configuration, fleet, discovery, storage jobs. Never imports Flask."""
