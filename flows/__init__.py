"""Pure USSD flow engine: (flow, input path, context) -> (screen, effects).

This package must not import Flask, SQLAlchemy, Redis, the clock or do any I/O. Everything it needs
arrives as plain data (`flows.model`), and what it wants done leaves as effects (`flows.effects`).
"""

from flows.effects import RecordAnswer, UpdateProfile, WithdrawAnswer
from flows.engine import Result, run
from flows.model import (
    Catalog,
    Directory,
    Flow,
    FlowError,
    Item,
    Node,
    Scale,
)
from flows.screens import Screen

__all__ = [
    "Catalog",
    "Directory",
    "Flow",
    "FlowError",
    "Item",
    "Node",
    "RecordAnswer",
    "Result",
    "Scale",
    "Screen",
    "UpdateProfile",
    "WithdrawAnswer",
    "run",
]
