"""Scoring: statistics (pure modules `periods`, `stats`) and the RQ jobs that turn answers into
scores (`cells`, `jobs`).

The pure modules (`periods`, `stats`, `report`, `keys`) import nothing from the gateway, Flask,
SQLAlchemy or Redis. The database-side modules (`aggregate`, `cells`, `integrity`, `jobs`) read
answers through `gateway.models` and `gateway.db`, and the jobs call into the gateway (quarters,
pushes); the gateway uses the pure modules and `aggregate`, and names jobs only by dotted path.
"""
