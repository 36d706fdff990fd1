"""The place tree (province -> territory or city -> collectivity), by code, and what lies under a
place: how the RBF API and the staff pages limit a token or an account to its province.

Rules: read from `locations` in one query; a place is under itself.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gateway.models import Location

Tree = list[tuple[str, str | None]]  # (code, parent code)


def place_tree(session: Session) -> Tree:
    parent = aliased(Location)
    return [(code, parent_code) for code, parent_code in session.execute(
        select(Location.code, parent.code).outerjoin(parent, parent.id == Location.parent_id))]


def subtree(tree: Tree, root: str) -> set[str]:
    """Codes of `root` and every place under it."""
    children: dict[str | None, list[str]] = {}
    for code, parent in tree:
        children.setdefault(parent, []).append(code)
    found, stack = set(), [root]
    while stack:
        code = stack.pop()
        found.add(code)
        stack.extend(children.get(code, []))
    return found


def places_under(session: Session, root: str | None) -> set[str] | None:
    """The codes an account or token limited to `root` may see; None when it is not limited."""
    return None if root is None else subtree(place_tree(session), root)
