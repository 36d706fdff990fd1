"""The gateway: the only package that speaks HTTP (Africa's Talking webhooks, the RBF API, health),
owns the database models and sessions, executes the effects `flows` returns and enqueues jobs.

Nothing happens at import time: `create_app()` builds the application.
"""

from gateway.app import create_app

__all__ = ["create_app"]
