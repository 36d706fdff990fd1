"""The SMS channel's configuration: the keyword grammar (`config/sms.toml`) and the reply texts
(table `[sms]` of `config/messages/<language>.toml`).

Rules: loaded and checked with the flow at start-up (a broken file stops the gateway, with every
problem named); the rating's indicators and their scales come from the survey, so an SMS rating and
a USSD answer are the same answer; every reply exists in every language of the survey, and the
French one is the fallback.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import Flow
from flows.sms import Grammar, ScaleBounds
from gateway.configdata import ConfigError

# Every reply, with the {placeholders} it may use; those marked required must be there.
REPLY_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    reply_id: (frozenset(allowed.split()), frozenset(required.split()))
    for reply_id, allowed, required in (
        ("help", "", ""), ("unrecognised", "", ""), ("bad_rating", "", ""),
        ("rated", "unit", ""), ("ask_locality", "", ""), ("place_unknown", "words", ""),
        ("ask_place_choice", "options", "options"), ("ask_unit_choice", "options", "options"),
        ("no_unit", "place", ""), ("feedback_thanks", "ref", "ref"), ("feedback_empty", "", ""),
        ("stopped", "", ""), ("started", "", ""), ("results_ok", "place", ""),
        ("feedback_reply", "ref text", "text"), ("results", "period place items", "items"),
        ("result_score", "inst score", "score"), ("result_few", "inst", ""),
        ("better", "", ""), ("not_better", "", ""), ("inst_police", "", ""),
        ("inst_justice", "", ""), ("inst_administration", "", ""),
    )
}
REPLIES = tuple(REPLY_FIELDS)


@dataclass(frozen=True)
class SmsConfig:
    grammar: Grammar
    replies: dict[str, dict[str, str]]  # language -> id -> text
    follow_up_hours: float
    default_language: str = "fr"

    def text(self, language: str | None, reply_id: str, **values: object) -> str:
        table = self.replies.get(language or "") or self.replies[self.default_language]
        template = table.get(reply_id) or self.replies[self.default_language][reply_id]
        return template.format(**values) if values else template


def load_sms(config_dir: Path, flow: Flow) -> SmsConfig:
    """Read and check the grammar and the replies; raise ConfigError naming every problem."""
    problems: list[str] = []
    path = config_dir / "sms.toml"
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path.name}: {exc}"]) from exc
    indicators = tuple(str(i) for i in data.get("rating_indicators", []))
    scales: dict[str, ScaleBounds] = {}
    type_codes = tuple(code for code, _ in flow.types)
    if not indicators:
        problems.append("sms.toml: rating_indicators is empty")
    for code in indicators:
        indicator = flow.indicators.get(code)
        if indicator is None:
            problems.append(f"sms.toml: rating indicator {code!r} is not in the survey")
            continue
        if set(indicator.types) != set(type_codes):
            problems.append(f"sms.toml: rating indicator {code!r} is not asked of every type")
        scales[code] = ScaleBounds(indicator.scale.points, indicator.scale.dont_know)
    keywords = {str(lang): _table(table) for lang, table in data.get("keywords", {}).items()}
    shared = _table(data.get("shared", {}))
    allowed = {"help", "stop", "start", "results", "feedback", "complaint", *type_codes}
    for where, table in [("shared", shared), *keywords.items()]:
        for meaning in sorted(set(table) - allowed):
            problems.append(f"sms.toml: [{where}] {meaning!r} is not a command or a type")
    for language in flow.languages:
        if language not in keywords:
            problems.append(f"sms.toml: no keywords for {language!r}")
    grammar: Grammar | None = None
    try:
        grammar = Grammar.build(keywords, shared, rating_indicators=indicators, scales=scales,
                                institution_types=type_codes)
    except ValueError as exc:
        problems.append(f"sms.toml: {exc}")
    replies = _replies(config_dir, flow, problems)
    if problems or grammar is None:
        raise ConfigError(problems)
    return SmsConfig(grammar, replies, float(data.get("follow_up_hours", 24)))


def _table(raw: Any) -> dict[str, list[str]]:
    return {str(k): [str(w) for w in v] for k, v in dict(raw).items()}


def _replies(config_dir: Path, flow: Flow, problems: list[str]) -> dict[str, dict[str, str]]:
    replies: dict[str, dict[str, str]] = {}
    for path in sorted((config_dir / "messages").glob("*.toml")):
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        language = str(data.get("meta", {}).get("language") or path.stem)
        replies[language] = {str(k): str(v) for k, v in data.get("sms", {}).items()}
    for language in flow.languages:
        table = replies.get(language, {})
        problems.extend(f"messages/{language}.toml: [sms] {rid!r} missing"
                        for rid in REPLIES if rid not in table)
        for rid, text in table.items():
            problems.extend(f"messages/{language}.toml: [sms] {rid!r}: {problem}"
                            for problem in _placeholder_problems(rid, text))
    return replies


def _placeholder_problems(reply_id: str, text: str) -> list[str]:
    """A reply that would fail, or say less than it must, when the gateway fills it in."""
    if reply_id not in REPLY_FIELDS:
        return [f"unknown reply (known: {', '.join(REPLIES)})"]
    allowed, required = REPLY_FIELDS[reply_id]
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        return [f"braces do not pair ({exc}); write {{{{ and }}}} for a literal brace"]
    found = [f"{{{name}}} is not known here (only: {', '.join(sorted(allowed)) or 'none'})"
             for name in sorted(used - allowed)]
    found += [f"{{{name}}} is missing" for name in sorted(required - used)]
    return found
