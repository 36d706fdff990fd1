"""The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`.

Written by hand, kept true by tests that validate every response against these schemas (and by
schemathesis). Change a response only with its schema, and a contract change only with a new
version path (DESIGN §9).
"""

from __future__ import annotations

from typing import Any

NUM = {"type": ["number", "null"]}
INTERVAL = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
PERIOD = {"type": "string", "pattern": "^2[0-9]{3}Q[1-4]$"}  # as scoring.periods.is_period
# Any text but NUL, which every query string and form field is refused for (gateway.app: a 400).
PLACE_CODE = {"type": "string", "pattern": "^[^\\x00]*$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], *, extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": extra}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
              "properties": {"error": {"type": "string"}, "field": {"type": "string"}}},
    "Place": _obj({"code": {"type": "string"}, "name": {"type": "string"},
                   "level": {"enum": ["province", "territory", "collectivity"]},
                   "parent": {"type": ["string", "null"]}}),
    "UnitRef": _obj({"code": {"type": "string"}, "name": {"type": "string"}}),
    "Indicator": _obj({
        "code": {"type": "string"}, "respondents": {"type": "integer", "minimum": 0},
        "dont_know": {"type": "integer", "minimum": 0}, "suppressed": {"type": "boolean"},
        "mean": NUM, "mean_ci": INTERVAL, "positive_share": SHARE, "positive_ci": INTERVAL,
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "score_ci": INTERVAL}),
    "Improvement": _obj({
        "respondents": {"type": "integer", "minimum": 0}, "better": SHARE, "same": SHARE,
        "worse": SHARE, "net": {"type": ["number", "null"], "minimum": -1, "maximum": 1},
        "probability": SHARE,
        "verdict": {"enum": ["improved", "not_improved", "insufficient_data"]}}),
    "Item": _obj({
        "type": {"enum": ["police", "justice", "administration"]},
        "level": {"enum": ["province", "territory", "collectivity", "unit"]},
        "location": _ref("Place"), "unit": {"oneOf": [_ref("UnitRef"), {"type": "null"}]},
        "respondents": {"type": "integer", "minimum": 0}, "suppressed": {"type": "boolean"},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "score_ci": INTERVAL, "indicators": {"type": "array", "items": _ref("Indicator")},
        "improvement": _ref("Improvement")}),
    "Scores": _obj({
        "period": PERIOD, "status": {"enum": ["open", "in_review", "locked"]},
        "provisional": {"type": "boolean"}, "version": {"type": ["integer", "null"]},
        "method_version": {"type": "string"}, "generated_at": {"type": "string"},
        "min_respondents": {"type": "integer"}, "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1}, "total": {"type": "integer"},
        "items": {"type": "array", "items": _ref("Item")}}),
    "Periods": _obj({"items": {"type": "array", "items": _obj({
        "period": PERIOD, "status": {"enum": ["open", "in_review", "locked"]},
        "locked_at": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]}})}}),
    "Units": _obj({"items": {"type": "array", "items": _obj({
        "code": {"type": "string"}, "name": {"type": "string"},
        "type": {"enum": ["police", "justice", "administration"]},
        "active": {"type": "boolean"}, "illustrative": {"type": "boolean"},
        "location": _obj({"code": {"type": "string"}, "name": {"type": "string"},
                          "level": {"type": "string"}})})}}),
    "DataValue": {"type": "object", "additionalProperties": False,
                  "required": ["dataElement", "period", "orgUnit", "value"],
                  "properties": {k: {"type": "string"} for k in (
                      "dataElement", "period", "orgUnit", "value", "storedBy", "lastUpdated",
                      "comment")}},
    "DataValueSet": _obj({
        "dataSet": {"type": "string"}, "period": PERIOD, "provisional": {"type": "boolean"},
        "version": {"type": ["integer", "null"]},
        "dataValues": {"type": "array", "items": _ref("DataValue")}}),
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad input; `field` names it", 401: "No, wrong or revoked bearer token",
            403: "Outside the token's scope", 404: "No answers for this quarter"}
    return {str(c): {"description": text[c],
                     "content": {"application/json": {"schema": _ref("Error")}}}
            for c in codes}


def _param(name: str, schema: dict[str, Any], required: bool = False, text: str = "") -> Any:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": text}


PERIOD_PARAM = _param("period", PERIOD, True, "Quarter, YYYYQn (DHIS2 convention)")
OK_304 = {"304": {"description": "Not modified (If-None-Match matched the ETag)"}}


def openapi_document() -> dict[str, Any]:
    def ok(schema: str, text: str) -> dict[str, Any]:
        return {"200": {"description": text, "headers": {"ETag": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": _ref(schema)}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "Community feedback gateway - RBF API", "version": "1.0.0",
                 "description": "Quarterly perception scores of police, justice and local "
                                "administration in North Kivu and Ituri, for Results Based "
                                "Financing. Locked quarters are final; provisional figures only "
                                "for tokens allowed to see them. Cells below the minimum number "
                                "of respondents keep their counts and carry null values."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "paths": {
            "/api/v1/periods": {"get": {
                "summary": "Quarters, their status, lock time and snapshot version",
                "responses": {**ok("Periods", "Every quarter with answers"), **OK_304,
                              **_errors(401)}}},
            "/api/v1/scores": {"get": {
                "summary": "Scores of a quarter, per level, place or unit, and institution type",
                "parameters": [
                    PERIOD_PARAM,
                    _param("type", {"enum": ["police", "justice", "administration"]}),
                    _param("level", {"enum": ["province", "territory", "collectivity", "unit"]}),
                    _param("location", PLACE_CODE, text="A place code: it and below"),
                    _param("page", {"type": "integer", "minimum": 1}),
                    _param("per_page", {"type": "integer", "minimum": 1, "maximum": 5000})],
                "responses": {**ok("Scores", "The quarter's items, in a stable order"), **OK_304,
                              **_errors(400, 401, 403, 404)}}},
            "/api/v1/units": {"get": {
                "summary": "Institution units, their codes, types and places",
                "responses": {**ok("Units", "Units"), **OK_304, **_errors(401)}}},
            "/api/v1/dhis2/dataValueSets": {"get": {
                "summary": "The quarter as DHIS2 dataValueSets (codes), or DHIS2 CSV",
                "parameters": [PERIOD_PARAM, _param("format", {"enum": ["json", "csv"]})],
                "responses": {
                    "200": {"description": "Bulk dataValueSets, or CSV with DHIS2's columns",
                            "content": {"application/json": {"schema": _ref("DataValueSet")},
                                        "text/csv": {"schema": {"type": "string"}}}},
                    **OK_304, **_errors(400, 401, 403, 404)}}},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {}}}}}},
        },
    }
