"""Published items -> DHIS2 `dataValueSets` (bulk JSON) and DHIS2's CSV columns.

Rules (../shared/reference/rbf-dhis2.md): codes, not UIDs (import with
`dataElementIdScheme=CODE&orgUnitIdScheme=CODE`); a count beside every percentage; interval bounds
as data elements of their own; suppressed items and indicators left out; values as strings, as
DHIS2 sends them; shares as percentages (0-100). The mapping lives in `config/dhis2.toml`.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSV_COLUMNS = ("dataelement", "period", "orgunit", "catoptcombo", "attroptcombo", "value",
               "storedby", "lastupdated", "comment", "followup")


@dataclass(frozen=True)
class Dhis2Mapping:
    data_set: str
    institution: Mapping[str, str]
    indicator: Mapping[str, str]
    improvement: Mapping[str, str]

    @classmethod
    def load(cls, config_dir: Path) -> Dhis2Mapping:
        with (config_dir / "dhis2.toml").open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
        return cls(str(data.get("data_set", "RBF_PERCEPTION")), data.get("institution", {}),
                   data.get("indicator", {}), data.get("improvement", {}))


def _fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


@dataclass
class _Rows:
    """Data values of one org unit and institution type."""

    period: str
    org_unit: str
    kind: str
    stored_by: str
    last_updated: str
    out: list[dict[str, str]]

    def add(self, template: str | None, value: float | None, *, indicator: str = "",
            comment: str = "") -> None:
        if template is None or value is None:
            return
        row = {"dataElement": template.format(TYPE=self.kind, INDICATOR=indicator.upper()),
               "period": self.period, "orgUnit": self.org_unit, "value": _fmt(value),
               "storedBy": self.stored_by, "lastUpdated": self.last_updated}
        if comment:
            row["comment"] = comment
        self.out.append(row)


def data_values(items: Iterable[Mapping[str, Any]], period: str, mapping: Dhis2Mapping,
                stored_by: str, last_updated: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in items:
        if item["suppressed"]:
            continue
        org_unit = item["unit"]["code"] if item["unit"] else item["location"]["code"]
        rows = _Rows(period, org_unit, str(item["type"]).upper(), stored_by, last_updated, out)
        _institution(rows, item, mapping.institution)
        for ind in item["indicators"]:
            if not ind["suppressed"]:
                _indicator(rows, ind, mapping.indicator)
        _improvement(rows, item["improvement"], mapping.improvement)
    return out


def _institution(rows: _Rows, item: Mapping[str, Any], names: Mapping[str, str]) -> None:
    rows.add(names.get("respondents"), item["respondents"])
    if item["score"] is None:
        return
    ci = item["score_ci"]
    rows.add(names.get("score"), item["score"],
             comment=f"institution score 0-100, 95% {ci[0]}-{ci[1]}" if ci else "")
    if ci:
        rows.add(names.get("score_low"), ci[0])
        rows.add(names.get("score_high"), ci[1])


def _indicator(rows: _Rows, ind: Mapping[str, Any], names: Mapping[str, str]) -> None:
    code = ind["code"]
    rows.add(names.get("respondents"), ind["respondents"], indicator=code)
    rows.add(names.get("dont_know"), ind["dont_know"], indicator=code)
    rows.add(names.get("mean"), ind["mean"], indicator=code)
    if ind["mean_ci"]:
        rows.add(names.get("mean_low"), ind["mean_ci"][0], indicator=code)
        rows.add(names.get("mean_high"), ind["mean_ci"][1], indicator=code)
    share = ind["positive_share"]
    if share is not None:
        ci = ind["positive_ci"]
        comment = (f"share positive of {ind['respondents']}, Wilson 95% "
                   f"{round(100 * ci[0], 1)}-{round(100 * ci[1], 1)}") if ci else ""
        rows.add(names.get("positive_pct"), round(100 * share, 2), indicator=code,
                 comment=comment)
        if ci:
            rows.add(names.get("positive_low"), round(100 * ci[0], 2), indicator=code)
            rows.add(names.get("positive_high"), round(100 * ci[1], 2), indicator=code)
    rows.add(names.get("score"), ind["score"], indicator=code)


def _improvement(rows: _Rows, imp: Mapping[str, Any], names: Mapping[str, str]) -> None:
    if imp["better"] is None:
        return
    rows.add(names.get("respondents"), imp["respondents"])
    for share in ("better", "same", "worse"):
        rows.add(names.get(f"{share}_pct"), round(100 * imp[share], 2))
    rows.add(names.get("net"), imp["net"])
    rows.add(names.get("probability"), imp["probability"], comment=f"verdict {imp['verdict']}")
    if imp["verdict"] in ("improved", "not_improved"):
        rows.add(names.get("improved"), int(imp["verdict"] == "improved"))


def to_csv(values: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for v in values:
        writer.writerow([v["dataElement"], v["period"], v["orgUnit"], "", "", v["value"],
                         v.get("storedBy", ""), v.get("lastUpdated", ""), v.get("comment", ""),
                         "false"])
    return buffer.getvalue()
