"""Validation of a flow against its catalog and directory: `flask --app gateway flows check`.

Walks every reachable screen (every node the flow can reach, in every language the caller can pick,
every page, with and without the error line, plus the Continue / Restart screen) and reports each
one that is too long or not printable ASCII, plus missing messages, lists too long to number without
colliding with the navigation keys, and screens whose keys collide. Pure: it reads only its input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from flows.engine import (
    ENGINE_MESSAGES,
    Context,
    Profile,
    State,
    _choose,
    _is_end,
    _pages,
    _screen,
    initial_state,
    options,
    resume_screens,
)
from flows.model import LANGUAGE_SLOT, Catalog, Directory, Flow, is_screen_text
from flows.screens import Screen

MAX_LIST = 97  # keys 1..97; 98 pages forward
LIST_KINDS = ("location", "unit")  # long lists may page; every other screen must fit on one


def problems(
    flow: Flow, catalog: Catalog, directory: Directory, limit: int, extra_messages: set[str]
) -> list[str]:
    """Every rule broken, as readable sentences; an empty list means the flow may go live."""
    found = catalog.problems(flow.message_ids() | set(ENGINE_MESSAGES) | extra_messages)
    found += [f"survey: language {lang} has no catalog" for lang in flow.languages
              if lang not in catalog.messages]
    if found:
        return found  # screens cannot be rendered without their messages
    for parent, kids in directory.children.items():
        if len(kids) > MAX_LIST:
            found.append(f"directory: {parent or 'top level'} has {len(kids)} children "
                         f"(max {MAX_LIST})")
    for (loc, kind), units in directory.units.items():
        if len(units) > MAX_LIST:
            found.append(f"directory: {loc}/{kind} has {len(units)} units (max {MAX_LIST})")
    ctx = Context(catalog, directory, catalog.default_language, limit)
    # One report per (language, screen, rule), naming the first path that shows it and how many do.
    first: dict[tuple[str, str, str], str] = {}
    times: dict[tuple[str, str, str], int] = {}
    for where, screen, keys, pages, lists in walk(flow, ctx):
        broken = []
        if len(screen.body) > limit:
            broken.append(f"longer than {limit} characters ({len(screen.body)})")
        if not is_screen_text(screen.body):
            broken.append("not printable ASCII")
        if len(set(keys)) != len(keys):
            broken.append("option keys collide")
        if pages > 1 and not lists:
            broken.append(f"pages ({pages} pages), but only place and unit lists may")
        for rule in broken:
            key = (where.split(" ", 1)[0], screen.body.split("\n", 1)[0], rule.split(" (")[0])
            first.setdefault(key, f"{where}: {rule}")
            times[key] = times.get(key, 0) + 1
    for key, problem in first.items():
        more = times[key] - 1
        found.append(problem + (f" (and {more} more paths)" if more else ""))
    for language in flow.languages:
        for screen in resume_screens(ctx, language):
            if len(screen.body) > limit:
                found.append(f"{language} resume: {len(screen.body)} characters > {limit}")
        for mid in sorted(extra_messages):
            text = catalog.text(language, mid)
            if len(text) > limit:
                found.append(f"{language} message {mid}: {len(text)} characters > {limit}")
    return found


def screens(flow: Flow, ctx: Context) -> Iterator[tuple[str, Screen]]:
    """Every reachable screen, named by language and path."""
    for where, screen, *_ in walk(flow, ctx):
        yield where, screen


def walk(flow: Flow, ctx: Context) -> Iterator[tuple[str, Screen, list[str], int, bool]]:
    """Depth-first over every state a first-time caller can reach.

    Yields (name, screen, option keys, number of pages, whether the node is a paged list).

    Answers to questions do not change how later screens look (branches are taken at the choice),
    so states that differ only in answers are visited once.
    """
    answer_slots = {n.id for n in flow.nodes.values() if n.kind == "question"}
    seen: set[tuple[str, int, tuple[tuple[str, str], ...]]] = set()
    stack: list[tuple[str, State]] = [("start", initial_state(flow, ctx, Profile()))]
    while stack:
        where, state = stack.pop()
        key = (state.node, state.page,
               tuple(sorted((k, v) for k, v in state.slots.items() if k not in answer_slots)))
        if key in seen:
            continue
        seen.add(key)
        trail = where if len(where) <= 120 else "..." + where[-117:]
        name = f"{state.slots.get(LANGUAGE_SLOT) or ctx.language} {trail}"
        opts = options(flow, state, ctx)
        ended = _is_end(flow, state)
        pages = 1 if ended else len(_pages(flow, state, ctx))
        is_list = flow.node(state.node).kind in LIST_KINDS
        yield name, _screen(flow, state, ctx, error=False), [o.key for o in opts], pages, is_list
        if ended:
            continue
        yield (name + " (after an invalid input)", _screen(flow, state, ctx, error=True), [],
               pages, is_list)
        if state.page + 1 < pages:
            stack.append((f"{where}>98", replace(state, page=state.page + 1, back=(state,))))
        for opt in opts:
            nxt, _ = _choose(flow, replace(state, back=()), opt, ctx)
            stack.append((f"{where}>{state.node}={opt.key}", replace(nxt, back=(state,))))
