"""The scoring method in force: indicators and scales from the survey, weights and thresholds from
`config/scoring.toml`, the small-cell minimum from the settings. Read once at start-up."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from flows import Flow
from gateway.configdata import ConfigError
from scoring.integrity import IntegrityRules
from scoring.report import IndicatorSpec, Method
from scoring.stats import ScaleSpec


def load_method(config_dir: Path, flow: Flow, min_respondents: int) -> Method:
    with (config_dir / "scoring.toml").open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    weights = {str(k): float(v) for k, v in data.get("weights", {}).items()}
    problems = [f"scoring.toml: weight for unknown indicator {code}" for code in weights
                if code not in flow.indicators]
    problems += [f"scoring.toml: weight of {code} must not be negative"
                 for code, w in weights.items() if w < 0]
    specs = []
    for code, ind in flow.indicators.items():
        if ind.role == "change" and (ind.scale.kind != "ordinal" or ind.scale.points != 3):
            problems.append(f"survey: the change indicator {code} needs worse / same / better")
        role = ind.role if ind.role in ("score", "eligibility", "change") else "score"
        specs.append(IndicatorSpec(
            code, ScaleSpec(ind.scale.kind, ind.scale.points, ind.scale.good),
            role,  # type: ignore[arg-type]
            weights.get(code, 1.0) if ind.role == "score" else 0.0,
        ))
    if problems:
        raise ConfigError(problems)
    return Method(
        version=str(data.get("method_version", "unversioned")),
        indicators=tuple(specs),
        min_respondents=min_respondents,
        payment_minimum=int(data.get("payment_minimum", 30)),
        improvement_probability=float(data.get("improvement_probability", 0.9)),
        types=tuple(code for code, _ in flow.types),
    )


def load_integrity_rules(config_dir: Path, max_sessions_per_day: int) -> IntegrityRules:
    with (config_dir / "scoring.toml").open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh).get("integrity", {})
    return IntegrityRules(
        burst_min=int(data.get("burst_min", 20)),
        burst_factor=float(data.get("burst_factor", 5.0)),
        first_time_share=float(data.get("first_time_share", 0.8)),
        first_time_min=int(data.get("first_time_min", 20)),
        first_time_margin=float(data.get("first_time_margin", 0.25)),
        max_sessions_per_day=max_sessions_per_day,
    )
