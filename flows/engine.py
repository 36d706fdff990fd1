"""The replay engine.

Africa's Talking sends, on every hop, the whole input path of the session joined by `*`. The engine
replays that path from the start node and returns the screen for the last hop plus the effects of
the whole path. Nothing is stored between hops, so the screen is a pure function of
(flow, path, context): a dial-through, a retried hop or a resumed session all replay the same way.

Rules, in the order they apply to each input:
1. `00` goes home: after consent, the start node with what the caller settled (language, consent,
   place), so a caller who consented is never asked again; before consent, the first screen;
   `0` goes back one screen (a no-op on the first screen, and never back past consent once given);
2. `98` shows the next page when the current list has one, otherwise it is invalid;
3. a key of the current screen selects it; anything else is invalid and re-asks the same screen,
   the error being shown only when it is the last input of the path;
4. routers, and location or unit lists with exactly one entry, are passed through without a screen
   (and without a back step); a location with no children keeps its parent's choice;
5. answers survive back and home: answering a step again replaces its answer; but taking a branch
   that skips a question (contact "no") withdraws that question's answer for the same institution,
   whether it was given in this session or an earlier one of the quarter;
6. with a resumable earlier session (`Context.resume`), the first screen asks Continue / Restart;
   Continue replays the earlier path (its answers were stored then, so they are not emitted again
   unless changed) and goes on from where it stopped;
7. the profile (language, consent, place) is emitted only when the caller has consented.
Inputs after an END screen are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from flows.effects import RecordAnswer, UpdateProfile, WithdrawAnswer
from flows.model import (
    BACK,
    HOME,
    LANGUAGE_SLOT,
    MORE,
    Catalog,
    Directory,
    Flow,
    MenuOption,
    Node,
)
from flows.screens import Option, Screen, paginate, render, to_ascii

ERROR_MESSAGE = "invalid_choice"
MORE_MESSAGE = "nav_more"
BACK_MESSAGE = "nav_back"
NO_UNIT_MESSAGE = "no_unit"
RESUME_PROMPT = "resume_prompt"
RESUME_OPTIONS = (("1", "resume_continue"), ("2", "resume_restart"))
LANGUAGE_NAME = "language_name"
ENGINE_MESSAGES = (ERROR_MESSAGE, MORE_MESSAGE, BACK_MESSAGE, NO_UNIT_MESSAGE, RESUME_PROMPT,
                   LANGUAGE_NAME, *(m for _, m in RESUME_OPTIONS))
CONSENT_SLOT, CONSENT_YES = "consent", "yes"
RESUME_NODE = "resume"  # the Continue / Restart screen is not a node of the flow


Effect = RecordAnswer | WithdrawAnswer | UpdateProfile


@dataclass(frozen=True)
class Profile:
    """What the gateway remembers of a caller, as of the start of the session."""

    language: str | None = None
    consent_version: str | None = None
    locality: str | None = None


@dataclass(frozen=True)
class Resume:
    """An earlier, unfinished session: its input path and the profile it started from."""

    path: tuple[str, ...]
    profile: Profile
    origin: str = ""  # the earlier session's id, for the gateway's bookkeeping


@dataclass(frozen=True)
class Context:
    catalog: Catalog
    directory: Directory
    language: str = "fr"  # until the caller's language is known
    limit: int = 160
    profile: Profile = field(default_factory=Profile)
    resume: Resume | None = None


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
    effects: tuple[Effect, ...]
    node: str  # where the caller is now: the funnel and the logs name screens by node id
    slots: Mapping[str, str]
    language: str
    path: tuple[str, ...]  # the inputs to replay to come back here (resume choice excluded)
    profile: Profile  # the profile that path starts from
    answered: int = 0  # answers given along the whole path (resumed part included)

    @property
    def answers(self) -> tuple[RecordAnswer, ...]:
        return tuple(e for e in self.effects if isinstance(e, RecordAnswer))


def run(flow: Flow, path: Sequence[str], ctx: Context) -> Result:
    """Replay `path` (the inputs, already split on `*`) and return the screen and effects."""
    inputs = [raw.strip() for raw in path]
    if ctx.resume is None:
        return _replay(flow, ctx, ctx.profile, [], inputs)
    for index, value in enumerate(inputs):
        if value == "1":
            return _replay(flow, ctx, ctx.resume.profile, list(ctx.resume.path), inputs[index + 1:])
        if value == "2":
            return _replay(flow, ctx, ctx.profile, [], inputs[index + 1:])
    error = bool(inputs) and inputs[-1] not in (BACK, HOME)
    language = ctx.profile.language or ctx.language
    # Resuming is offered to consented callers only: keep their session (and its resume) stored.
    effects: tuple[UpdateProfile, ...] = ()
    if flow.consent_version and ctx.profile.consent_version == flow.consent_version:
        effects = (UpdateProfile(ctx.profile.language, flow.consent_version, ctx.profile.locality),)
    return Result(_resume_screen(ctx, language, error), effects, RESUME_NODE, {}, language, (),
                  ctx.profile)


def initial_state(flow: Flow, ctx: Context, profile: Profile) -> State:
    """The start node with the slots the profile fills: language, consent and the last place."""
    slots: dict[str, str] = {}
    if profile.language and profile.language in ctx.catalog.messages:
        slots[LANGUAGE_SLOT] = profile.language
    if flow.consent_version and profile.consent_version == flow.consent_version:
        slots[CONSENT_SLOT] = CONSENT_YES
    if profile.locality and profile.locality in ctx.directory.locations:
        slots.update(_place_slots(flow, ctx.directory, profile.locality))
    return _settle(flow, State(flow.start, slots), ctx)


def _place_slots(flow: Flow, directory: Directory, locality: str) -> dict[str, str]:
    lineage: list[str] = []
    code: str | None = locality
    while code is not None and code in directory.locations:
        lineage.insert(0, code)
        code = directory.locations[code].parent
    chain = flow.location_chain()
    # A chain deeper than the place (a level without children) repeats the place, as rule 4 does.
    return {node_id: lineage[min(i, len(lineage) - 1)] for i, node_id in enumerate(chain)}


def _replay(
    flow: Flow, ctx: Context, profile: Profile, prefix: list[str], live: list[str]
) -> Result:
    answers: dict[str, RecordAnswer] = {}
    live_steps: set[str] = set()
    withdrawn: dict[str, WithdrawAnswer] = {}
    start = initial_state(flow, ctx, profile)
    state = start
    error = False
    for index, value in enumerate([*prefix, *live]):
        is_live = index >= len(prefix)
        if _is_end(flow, state):
            break
        error = False
        if value == HOME:
            state = _home(flow, ctx, state, start)
        elif value == BACK:
            if state.back:
                state = state.back[-1]
        elif value == MORE and _has_next_page(flow, state, ctx):
            state = replace(state, page=state.page + 1, back=(*state.back, state))
        else:
            chosen = _find(options(flow, state, ctx), value)
            if chosen is None:
                error = is_live and index == len(prefix) + len(live) - 1
                continue
            before = state
            state, answer = _choose(flow, state, chosen, ctx)
            if answer is not None:
                answers.pop(answer.step, None)  # re-insert so the latest answer comes last
                answers[answer.step] = answer
                withdrawn.pop(answer.step, None)
                if is_live:
                    live_steps.add(answer.step)
                for gone in _skipped(flow, before, chosen):
                    answers.pop(gone.step, None)
                    live_steps.discard(gone.step)
                    if is_live:  # even if asked in an earlier session: it no longer stands
                        withdrawn[gone.step] = gone
    effects: list[Effect] = [a for step, a in answers.items() if step in live_steps]
    effects += withdrawn.values()
    if state.slots.get(CONSENT_SLOT) == CONSENT_YES:
        chain = flow.location_chain()
        locality = state.slots.get(chain[-1]) if chain else None
        effects.append(UpdateProfile(state.slots.get(LANGUAGE_SLOT), flow.consent_version,
                                     locality or profile.locality))
    return Result(
        screen=_screen(flow, state, ctx, error),
        effects=tuple(effects),
        node=state.node,
        slots=state.slots,
        language=_language(state, ctx),
        path=(*prefix, *live),
        profile=profile,
        answered=len(answers),
    )


def _home(flow: Flow, ctx: Context, state: State, start: State) -> State:
    """Rule 1: after consent, the start node with the language, consent and place the caller
    settled; before consent, the very first screen (a wrong language can still be changed)."""
    if state.slots.get(CONSENT_SLOT) != CONSENT_YES:
        return start
    kept = (LANGUAGE_SLOT, CONSENT_SLOT, *flow.location_chain())
    slots = {k: state.slots[k] for k in kept if state.slots.get(k)}
    return _settle(flow, State(flow.start, slots), ctx)


def _skipped(flow: Flow, state: State, chosen: Option) -> list[WithdrawAnswer]:
    """Questions on the branches a question's answer did not take (rule 5)."""
    node = flow.node(state.node)
    if node.kind != "question" or not node.branches or node.type is None:
        return []
    taken = node.branches.get(chosen.key, node.next)
    institution_type = state.slots.get(node.type, "")
    out = []
    for target in sorted(set(node.branches.values()) - {taken}):
        skipped = flow.node(target)
        if skipped.kind == "question" and skipped.indicator is not None:
            out.append(WithdrawAnswer(f"{institution_type}:{skipped.indicator}",
                                      institution_type, skipped.indicator))
    return out


def _language(state: State, ctx: Context) -> str:
    return state.slots.get(LANGUAGE_SLOT) or ctx.language


def _is_end(flow: Flow, state: State) -> bool:
    return state.dead_end is not None or flow.node(state.node).kind == "end"


def _find(opts: list[Option], key: str) -> Option | None:
    return next((o for o in opts if o.key == key), None)


def options(flow: Flow, state: State, ctx: Context) -> list[Option]:
    """Every option of the current node, across all pages."""
    node = flow.node(state.node)
    lang = _language(state, ctx)
    listed: list[Option] = []
    if node.kind == "location":
        parent = state.slots.get(node.parent) if node.parent else None
        listed = _numbered([(i.code, i.label) for i in ctx.directory.child_items(parent)])
    elif node.kind == "type":
        listed = _numbered([(code, ctx.catalog.text(lang, mid)) for code, mid in flow.types])
    elif node.kind == "unit":
        assert node.location is not None and node.type is not None
        units = ctx.directory.units_for(state.slots[node.location], state.slots[node.type])
        listed = _numbered([(u.code, u.label) for u in units])
    elif node.kind == "language":
        listed = _numbered([(code, ctx.catalog.text(code, LANGUAGE_NAME))
                            for code in flow.languages])
    elif node.kind == "question":
        assert node.indicator is not None
        scale = flow.indicators[node.indicator].scale
        return [Option(k, ctx.catalog.text(lang, mid), v) for k, mid, v in scale.options()]
    static = [Option(o.key, ctx.catalog.text(lang, o.label), o) for o in node.options]
    return listed + static


def _numbered(pairs: list[tuple[str, str]]) -> list[Option]:
    return [Option(str(i + 1), to_ascii(label), code) for i, (code, label) in enumerate(pairs)]


def _choose(
    flow: Flow, state: State, chosen: Option, ctx: Context
) -> tuple[State, RecordAnswer | None]:
    node = flow.node(state.node)
    slots = dict(state.slots)
    target = node.next
    answer = None
    back = (*state.back, state)
    if isinstance(chosen.value, MenuOption):
        slots[node.slot_name] = chosen.value.value
        for slot in chosen.value.clear:
            slots.pop(slot, None)
        target = chosen.value.next or node.next
        if chosen.value.commit:
            back = ()
    else:
        slot_id = LANGUAGE_SLOT if node.kind == "language" else node.slot_name
        slots[slot_id] = "" if chosen.value is None else str(chosen.value)
    if node.kind == "question":
        answer = _answer(flow, node, state, chosen)
        target = node.branches.get(chosen.key, node.next)
    assert target is not None
    return _settle(flow, State(target, slots, 0, back), ctx), answer


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
    """Pass through routers and single-choice lists, as rule 4 says."""
    for _ in range(len(flow.nodes) + 1):
        node = flow.node(state.node)
        if node.kind == "router":
            route = next((r for r in node.routes if r.holds(state.slots)), None)
            target = route.next if route else node.next
            assert target is not None
            state = replace(state, node=target, page=0)
            continue
        if node.kind not in ("location", "unit"):
            return state
        opts = options(flow, state, ctx)
        if node.kind == "unit" and not opts:
            return replace(state, dead_end=NO_UNIT_MESSAGE)
        if len(opts) > 1:
            return state
        slots = dict(state.slots)
        # A location without children: the parent's choice stands for this level too.
        only = str(opts[0].value) if opts else state.slots.get(node.parent or "", "")
        slots[node.slot_name] = only
        assert node.next is not None
        state = State(node.next, slots, 0, state.back)
    return state


def _has_next_page(flow: Flow, state: State, ctx: Context) -> bool:
    return state.page + 1 < len(_pages(flow, state, ctx))


def _pages(flow: Flow, state: State, ctx: Context) -> list[list[Option]]:
    lang = _language(state, ctx)
    header = _header(flow, state, ctx, error=True)
    more = f"{MORE}. {ctx.catalog.text(lang, MORE_MESSAGE)}"
    back = f"{BACK}. {ctx.catalog.text(lang, BACK_MESSAGE)}"
    return paginate(header, options(flow, state, ctx), more, back, ctx.limit)


def prompt_text(flow: Flow, state: State, ctx: Context, message_id: str) -> str:
    """A message with `{inst}` (the chosen institution type; `{Inst}` capitalised) and `{place}`."""
    lang = _language(state, ctx)
    text = ctx.catalog.text(lang, message_id)
    if "{inst}" in text or "{Inst}" in text:
        type_slot = next((n.slot_name for n in flow.nodes.values() if n.kind == "type"
                          and state.slots.get(n.slot_name)), None)
        kind = state.slots.get(type_slot or "", "")
        inst = ctx.catalog.text(lang, f"inst_{kind}") if kind else ""
        text = text.replace("{inst}", inst).replace("{Inst}", inst[:1].upper() + inst[1:])
    if "{place}" in text:
        chain = flow.location_chain()
        code = state.slots.get(chain[-1], "") if chain else ""
        item = ctx.directory.locations.get(code)
        text = text.replace("{place}", to_ascii(item.label) if item else "")
    return text


def _header(flow: Flow, state: State, ctx: Context, *, error: bool) -> list[str]:
    lang = _language(state, ctx)
    lines = [ctx.catalog.text(lang, ERROR_MESSAGE)] if error else []
    node = flow.node(state.node)
    message = flow.indicators[node.indicator].prompt if node.indicator else node.prompt
    lines.append(prompt_text(flow, state, ctx, message))
    return lines


def _screen(flow: Flow, state: State, ctx: Context, error: bool) -> Screen:
    lang = _language(state, ctx)
    if state.dead_end is not None:
        return Screen(True, ctx.catalog.text(lang, state.dead_end))
    node = flow.node(state.node)
    if node.kind == "end":
        return Screen(True, prompt_text(flow, state, ctx, node.prompt))
    pages = _pages(flow, state, ctx)
    page = pages[min(state.page, len(pages) - 1)]
    more = ctx.catalog.text(lang, MORE_MESSAGE) if state.page + 1 < len(pages) else None
    back = ctx.catalog.text(lang, BACK_MESSAGE) if state.back else None
    return Screen(False, render(_header(flow, state, ctx, error=error), page, more, back))


def _resume_screen(ctx: Context, language: str, error: bool) -> Screen:
    lines = [ctx.catalog.text(language, ERROR_MESSAGE)] if error else []
    lines.append(ctx.catalog.text(language, RESUME_PROMPT))
    lines += [f"{key}. {ctx.catalog.text(language, mid)}" for key, mid in RESUME_OPTIONS]
    return Screen(False, "\n".join(lines))


def resume_screens(ctx: Context, language: str) -> list[Screen]:
    """The Continue / Restart screen, with and without the error line (for `flows.check`)."""
    return [_resume_screen(ctx, language, False), _resume_screen(ctx, language, True)]
