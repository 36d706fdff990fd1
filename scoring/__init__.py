"""Scoring: statistics (pure modules `periods`, `stats`) and the RQ jobs that turn answers into
scores (`cells`, `jobs`).

The pure modules import nothing from the gateway, Flask, SQLAlchemy or Redis. The job modules read
answers through `gateway.models` and are referred to by the gateway only by their dotted names,
so imports still point one way.
"""
