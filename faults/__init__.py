"""The fault and abuse suite (`make faults`): real PostgreSQL, Redis, gunicorn and RQ processes of
its own, broken on purpose. See faults/conftest.py."""
