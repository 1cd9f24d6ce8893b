"""Flask blueprints: the JSON API, login, pages and the WebSocket."""
