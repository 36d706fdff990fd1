"""The suite's summary: each scenario's figures, written to `bench/results/faults-<date>-<host>`.

Rules:
- a scenario adds one `Tally` (or its own figures) when it has measured them, whether its
  assertions then pass or not: a red run's figures are the ones worth reading;
- the session writes `.json` (every figure, the outcome of every test) and `.md` (one table) at its
  end, only if some scenario measured something, and prints the one-line figures last.
"""

from __future__ import annotations

import json
import platform
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .load import Tally
from .services import ROOT

RESULTS = ROOT / "bench" / "results"


@dataclass
class Summary:
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    tallies: list[Tally] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, str] = field(default_factory=dict)  # strict xfails: test -> needed change
    services: dict[str, str] = field(default_factory=dict)

    def add(self, tally: Tally) -> None:
        self.tallies.append(tally)

    def lines(self) -> list[str]:
        return [t.line() for t in self.tallies]

    def write(self, wall_seconds: float, directory: Path = RESULTS) -> list[Path]:
        if not self.tallies:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname().split(".")[0] or "host"
        stem = directory / f"faults-{self.started:%Y%m%d}-{host}"
        document = {
            "suite": "faults",
            "started": self.started.isoformat(timespec="seconds"),
            "wall_seconds": round(wall_seconds, 1),
            "host": host,
            "machine": {"python": platform.python_version(), "cpus": _cpus(),
                        **self.services},
            "scenarios": [asdict(t) for t in self.tallies],
            "tests": self.outcomes,
            "known_gaps": self.gaps,
        }
        json_path = stem.with_suffix(".json")
        json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        md_path = stem.with_suffix(".md")
        md_path.write_text(self._markdown(document))
        return [json_path, md_path]

    def _markdown(self, document: dict[str, object]) -> str:
        rows = ["| scenario | sent | accepted | polite END | errors | answers expected | stored "
                "| lost | duplicated | wrong | p99 ms | max ms |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for t in self.tallies:
            rows.append(f"| {t.scenario} | {t.sent} | {t.accepted} | {t.polite} | {t.errors} "
                        f"| {t.expected} | {t.stored} | {t.lost} | {t.duplicated} | {t.wrong} "
                        f"| {t.p99_ms:.0f} | {t.max_ms:.0f} |")
        notes = [f"- **{t.scenario}**: " + ", ".join(f"{k} {v}" for k, v in t.notes.items())
                 for t in self.tallies if t.notes]
        gaps = [f"- `{node.split('::', 1)[1]}`: {reason.removeprefix('reason: ')}"
                for node, reason in sorted(self.gaps.items())]
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        return "\n".join([
            f"# Fault and abuse suite, {document['started']} on {document['host']}",
            "",
            f"`make faults`: {document['wall_seconds']} s wall time; tests: "
            + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ".",
            f"Machine: {json.dumps(document['machine'])}.",
            "",
            "Requests are USSD hops; *accepted* hops got an ordinary screen, and the answers "
            "they carried must be stored exactly once (*lost* and *duplicated* must be 0); "
            "*wrong* counts stored answers that no path of the caller means (must be 0).",
            "",
            *rows,
            "",
            *notes,
            "",
            *(["Known gaps (strict xfail: the change each needs; a fix turns it red until the "
               "marker goes):", "", *gaps, ""] if gaps else []),
        ])


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
