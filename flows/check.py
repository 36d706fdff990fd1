"""Validation of a flow against its catalog and directory: `flask --app gateway flows check`.

Walks every reachable screen of every language (every page, with and without the error line) and
reports each one that is too long or not printable ASCII, plus missing messages and lists too long
to number without colliding with the navigation keys. Pure: it only reads the data it is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from flows.engine import (
    ENGINE_MESSAGES,
    Context,
    State,
    _choose,
    _pages,
    _screen,
    _settle,
    options,
)
from flows.model import Catalog, Directory, Flow, is_screen_text
from flows.screens import Screen

MAX_LIST = 97  # keys 1..97; 98 pages forward


def problems(
    flow: Flow, catalog: Catalog, directory: Directory, limit: int, extra_messages: set[str]
) -> list[str]:
    """Every rule broken, as readable sentences; an empty list means the flow may go live."""
    found = catalog.problems(flow.message_ids() | set(ENGINE_MESSAGES) | extra_messages)
    if found:
        return found  # screens cannot be rendered without their messages
    for parent, kids in directory.children.items():
        if len(kids) > MAX_LIST:
            found.append(
                f"directory: {parent or 'top level'} has {len(kids)} children (max {MAX_LIST})"
            )
    for (loc, kind), units in directory.units.items():
        if len(units) > MAX_LIST:
            found.append(f"directory: {loc}/{kind} has {len(units)} units (max {MAX_LIST})")
    for language in catalog.languages:
        ctx = Context(catalog, directory, language, limit)
        for where, screen in screens(flow, ctx):
            if len(screen.body) > limit:
                found.append(f"{language} {where}: {len(screen.body)} characters > {limit}")
            if not is_screen_text(screen.body):
                found.append(f"{language} {where}: not printable ASCII")
        for mid in extra_messages:
            text = catalog.text(language, mid)
            if len(text) > limit:
                found.append(f"{language} message {mid}: {len(text)} characters > {limit}")
    return found


def screens(flow: Flow, ctx: Context) -> Iterator[tuple[str, Screen]]:
    """Every reachable screen (each page, with and without the error line), named by its path."""
    seen: set[tuple[str, tuple[tuple[str, str], ...], int]] = set()
    stack: list[tuple[str, State]] = [("start", _settle(flow, State(flow.start), ctx))]
    while stack:
        where, state = stack.pop()
        key = (state.node, tuple(sorted(state.slots.items())), state.page)
        if key in seen:
            continue
        seen.add(key)
        yield where, _screen(flow, state, ctx, error=False)
        node = flow.node(state.node)
        if state.dead_end is not None or node.kind == "end":
            continue
        yield where + " (after an invalid input)", _screen(flow, state, ctx, error=True)
        if state.page + 1 < len(_pages(flow, state, ctx)):
            stack.append((f"{where}>98", replace(state, page=state.page + 1, back=(state,))))
        for opt in options(flow, state, ctx):
            nxt = _choose(flow, replace(state, back=()), opt, ctx, {})
            stack.append((f"{where}>{node.id}={opt.key}", replace(nxt, back=(state,))))
