"""How the app is served: the gunicorn worker class (worker.py)."""
