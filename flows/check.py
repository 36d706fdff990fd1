"""Validation of a flow against its catalog and directory: `flask --app gateway flows check`.

Walks every reachable screen (every node the flow can reach, in every language the caller can pick,
every page, with and without the error line, plus the Continue / Restart screen) and reports each
one that is too long or not printable ASCII, plus missing messages, lists too long to number without
colliding with the navigation keys, and screens whose keys collide. Pure: it reads only its input.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

from flows.engine import (
    ENGINE_MESSAGES,
    Context,
    Profile,
    State,
    _choose,
    _home,
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
    # One report per (language, node, rule), naming the first path that shows it and how many do.
    first: dict[tuple[str, str, str], str] = {}
    times: dict[tuple[str, str, str], int] = {}
    for walked in walk(flow, ctx):
        body = walked.screen.body
        broken = []
        if len(body) > limit:
            broken.append(f"longer than {limit} characters ({len(body)})")
        if not is_screen_text(body):
            broken.append("not printable ASCII")
        if len(set(walked.keys)) != len(walked.keys):
            broken.append("option keys collide")
        if walked.pages > 1 and not walked.pageable:
            broken.append(f"pages ({walked.pages} pages), but only place and unit lists may")
        for rule in broken:
            key = (walked.language, walked.node, rule.split(" (")[0])
            first.setdefault(key, f"{walked.name}: {rule}")
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


@dataclass(frozen=True)
class Walked:
    name: str  # language and the path that reached it
    language: str
    node: str
    screen: Screen
    keys: list[str]
    pages: int
    pageable: bool  # a place or unit list, which may page


def screens(flow: Flow, ctx: Context) -> Iterator[tuple[str, Screen]]:
    """Every reachable screen, named by language and path."""
    for walked in walk(flow, ctx):
        yield walked.name, walked.screen


def walk(flow: Flow, ctx: Context) -> Iterator[Walked]:
    """Every state a first-time caller can reach, by any key, `0`, `00` and `98`.

    Answers to questions do not change how later screens look (branches are taken at the choice),
    so states that differ only in answers are visited once; whether a back line shows is part of
    what is visited.
    """
    answer_slots = {n.id for n in flow.nodes.values() if n.kind == "question"}
    start = initial_state(flow, ctx, Profile())
    seen: set[tuple[str, int, bool, tuple[tuple[str, str], ...]]] = set()
    # Breadth first, so the path a report names is a shortest one.
    stack: deque[tuple[str, State]] = deque([("start", start)])
    while stack:
        where, state = stack.popleft()
        key = (state.node, state.page, bool(state.back),
               tuple(sorted((k, v) for k, v in state.slots.items() if k not in answer_slots)))
        if key in seen:
            continue
        seen.add(key)
        language = state.slots.get(LANGUAGE_SLOT) or ctx.language
        trail = where if len(where) <= 120 else "..." + where[-117:]
        name = f"{language} {trail}"
        opts = options(flow, state, ctx)
        ended = _is_end(flow, state)
        pages = 1 if ended else len(_pages(flow, state, ctx))
        pageable = flow.node(state.node).kind in LIST_KINDS
        yield Walked(name, language, state.node, _screen(flow, state, ctx, error=False),
                     [o.key for o in opts], pages, pageable)
        if ended:
            continue
        yield Walked(name + " (after an invalid input)", language, state.node,
                     _screen(flow, state, ctx, error=True), [], pages, pageable)
        if state.page + 1 < pages:
            stack.append((f"{where}>98", replace(state, page=state.page + 1, back=(state,))))
        stack.append((f"{where}>00", _home(flow, ctx, state, start)))
        if state.back:
            stack.append((f"{where}>0", state.back[-1]))
        for opt in opts:
            nxt, _ = _choose(flow, replace(state, back=()), opt, ctx)
            # A commit option (consent) leaves no way back; otherwise back leads here.
            stack.append((f"{where}>{state.node}={opt.key}",
                          replace(nxt, back=(state,) if nxt.back else ())))
