"""The replay engine.

Africa's Talking sends, on every hop, the whole input path of the session joined by `*`. The engine
replays that path from the start node and returns the screen for the last hop plus the effects of
the whole path. Nothing is stored between hops, so the screen is a pure function of
(flow, path, context): a dial-through, a retried hop or a resumed session all replay the same way.

Rules, in the order they apply to each input:
1. `00` goes home (start node, empty back stack); `0` goes back one screen (no-op at the start);
2. `98` shows the next page when the current list has one, otherwise it is invalid;
3. a key of the current screen selects it; anything else is invalid and re-asks the same screen,
   the error being shown only when it is the last input of the path;
4. a node whose list has exactly one entry is passed through without a screen (and without a back
   step), a location node with no children keeps its parent's choice;
5. answers survive back and home: going back and answering again replaces the answer of that step.
Inputs after an END screen are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from flows.effects import RecordAnswer
from flows.model import BACK, HOME, MORE, Catalog, Directory, Flow, Node
from flows.screens import Option, Screen, paginate, render, to_ascii

ERROR_MESSAGE = "invalid_choice"
MORE_MESSAGE = "nav_more"
BACK_MESSAGE = "nav_back"
NO_UNIT_MESSAGE = "no_unit"
ENGINE_MESSAGES = (ERROR_MESSAGE, MORE_MESSAGE, BACK_MESSAGE, NO_UNIT_MESSAGE)


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    directory: Directory
    language: str = "fr"
    limit: int = 160


@dataclass(frozen=True)
class State:
    node: str
    slots: Mapping[str, str] = field(default_factory=dict)
    page: int = 0
    back: tuple[State, ...] = ()
    dead_end: str | None = None  # a message id when the path cannot go on (no unit here)


@dataclass(frozen=True)
class Result:
    screen: Screen
    effects: tuple[RecordAnswer, ...]
    node: str  # where the caller is now: the funnel and the logs name screens by node id
    slots: Mapping[str, str]


def run(flow: Flow, path: Sequence[str], ctx: Context) -> Result:
    """Replay `path` (the inputs, already split on `*`) and return the screen and effects."""
    answers: dict[str, RecordAnswer] = {}
    state = _settle(flow, State(flow.start), ctx)
    error = False
    for index, raw in enumerate(path):
        value = raw.strip()
        last = index == len(path) - 1
        if _is_end(flow, state):
            break
        error = False
        if value == HOME:
            state = _settle(flow, State(flow.start), ctx)
        elif value == BACK:
            if state.back:
                state = state.back[-1]
        elif value == MORE and _has_next_page(flow, state, ctx):
            state = replace(state, page=state.page + 1, back=(*state.back, state))
        else:
            chosen = _find(options(flow, state, ctx), value)
            if chosen is None:
                error = last
                continue
            state = _choose(flow, state, chosen, ctx, answers)
    return Result(
        screen=_screen(flow, state, ctx, error),
        effects=tuple(answers.values()),
        node=state.node,
        slots=state.slots,
    )


def _is_end(flow: Flow, state: State) -> bool:
    return state.dead_end is not None or flow.node(state.node).kind == "end"


def _find(opts: list[Option], key: str) -> Option | None:
    return next((o for o in opts if o.key == key), None)


def options(flow: Flow, state: State, ctx: Context) -> list[Option]:
    """Every option of the current node, across all pages."""
    node = flow.node(state.node)
    lang = ctx.language
    if node.kind == "location":
        parent = state.slots.get(node.parent) if node.parent else None
        return _numbered([(i.code, i.label) for i in ctx.directory.child_items(parent)])
    if node.kind == "type":
        return _numbered([(code, ctx.catalog.text(lang, mid)) for code, mid in flow.types])
    if node.kind == "unit":
        assert node.location is not None and node.type is not None
        units = ctx.directory.units_for(state.slots[node.location], state.slots[node.type])
        return _numbered([(u.code, u.label) for u in units])
    if node.kind == "question":
        assert node.indicator is not None
        scale = flow.indicators[node.indicator].scale
        return [Option(k, ctx.catalog.text(lang, mid), v) for k, mid, v in scale.options()]
    return []


def _numbered(pairs: list[tuple[str, str]]) -> list[Option]:
    return [Option(str(i + 1), to_ascii(label), code) for i, (code, label) in enumerate(pairs)]


def _choose(
    flow: Flow, state: State, chosen: Option, ctx: Context, answers: dict[str, RecordAnswer]
) -> State:
    node = flow.node(state.node)
    slots = dict(state.slots)
    slots[node.id] = str(chosen.value) if chosen.value is not None else ""
    if node.kind == "question":
        answer = _answer(flow, node, state, chosen)
        answers.pop(answer.step, None)  # re-insert so the latest answer comes last
        answers[answer.step] = answer
    assert node.next is not None
    nxt = State(node.next, slots, 0, (*state.back, state))
    return _settle(flow, nxt, ctx)


def _answer(flow: Flow, node: Node, state: State, chosen: Option) -> RecordAnswer:
    assert node.type and node.unit and node.indicator
    institution_type = state.slots[node.type]
    locality_node = flow.node(node.unit).location
    assert locality_node is not None
    value = chosen.value if isinstance(chosen.value, int) else None
    return RecordAnswer(
        step=f"{institution_type}:{node.indicator}",
        institution_type=institution_type,
        unit_code=state.slots[node.unit],
        location_code=state.slots[locality_node],
        indicator=node.indicator,
        option=chosen.key,
        value=value,
    )


def _settle(flow: Flow, state: State, ctx: Context) -> State:
    """Pass through nodes with a single (or, for locations, no) choice, as rule 4 says."""
    for _ in range(len(flow.nodes) + 1):
        node = flow.node(state.node)
        if node.kind not in ("location", "unit"):
            return state
        opts = options(flow, state, ctx)
        if node.kind == "unit" and not opts:
            return replace(state, dead_end=NO_UNIT_MESSAGE)
        if len(opts) > 1:
            return state
        slots = dict(state.slots)
        # A location without children: the parent's choice stands for this level too.
        slots[node.id] = str(opts[0].value) if opts else state.slots.get(node.parent or "", "")
        assert node.next is not None
        state = State(node.next, slots, 0, state.back)
    return state


def _has_next_page(flow: Flow, state: State, ctx: Context) -> bool:
    return state.page + 1 < len(_pages(flow, state, ctx))


def _pages(flow: Flow, state: State, ctx: Context) -> list[list[Option]]:
    node = flow.node(state.node)
    header = _header(node, ctx, error=True)
    more = f"{MORE}. {ctx.catalog.text(ctx.language, MORE_MESSAGE)}"
    back = f"{BACK}. {ctx.catalog.text(ctx.language, BACK_MESSAGE)}"
    return paginate(header, options(flow, state, ctx), more, back, ctx.limit)


def _header(node: Node, ctx: Context, *, error: bool) -> list[str]:
    lines = [ctx.catalog.text(ctx.language, ERROR_MESSAGE)] if error else []
    lines.append(ctx.catalog.text(ctx.language, node.prompt))
    return lines


def _screen(flow: Flow, state: State, ctx: Context, error: bool) -> Screen:
    if state.dead_end is not None:
        return Screen(True, ctx.catalog.text(ctx.language, state.dead_end))
    node = flow.node(state.node)
    if node.kind == "end":
        return Screen(True, ctx.catalog.text(ctx.language, node.prompt))
    pages = _pages(flow, state, ctx)
    page = pages[min(state.page, len(pages) - 1)]
    more = ctx.catalog.text(ctx.language, MORE_MESSAGE) if state.page + 1 < len(pages) else None
    back = ctx.catalog.text(ctx.language, BACK_MESSAGE) if state.back else None
    return Screen(False, render(_header(node, ctx, error=error), page, more, back))
