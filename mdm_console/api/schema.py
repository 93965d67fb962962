"""The API's schema document (OpenAPI 3.1), built from the request and answer models and from the event kinds
(`engine/events.py`: `x-event-kinds` maps each kind to its payload's schema): served at /v1/schema and kept in
docs/api-schema.json (a test fails when the copy drifts)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from mdm_console import __version__
from mdm_console.api import models as m
from mdm_console.api.ops import OPS

EXTRA = [m.ErrorBody, m.Hello, m.StreamLine, m.ExportRequest, m.ExportResponse]


def document() -> dict[str, Any]:
    from mdm_console.engine.events import KINDS

    models = {t for op in OPS.values() for t in (op.request, op.response)} | set(EXTRA)
    ordered = sorted(models, key=lambda t: t.__name__)
    payloads = sorted(set(KINDS.values()), key=lambda t: t.__name__)
    _, defs = models_json_schema([(t, "validation" if t.__name__.endswith("Request") else "serialization")
                                  for t in ordered] + [(t, "validation") for t in payloads],
                                 ref_template="#/components/schemas/{model}")

    def ref(t) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{t.__name__}"}

    def error(text: str) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"schema": ref(m.ErrorBody)}}}

    paths: dict[str, Any] = {
        "/v1/hello": {"get": {"summary": "who owns the session, and who the caller is as the kernel names it",
                              "responses": {"200": {"description": "ok", "content": {
                                  "application/json": {"schema": ref(m.Hello)}}}}}},
        "/v1/schema": {"get": {"summary": "this document", "responses": {"200": {"description": "ok"}}}},
        "/v1/events": {"get": {
            "summary": "JSON Lines: every event after `after`, then live ones; health snapshots when health=1",
            "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer", "default": 0}},
                           {"name": "health", "in": "query", "schema": {"type": "integer", "enum": [0, 1]}}],
            "responses": {"200": {"description": "a stream of StreamLine objects, one per line", "content": {
                "application/x-ndjson": {"schema": ref(m.StreamLine)}}}, "403": error("refused by [access]")}}},
        "/v1/export": {"post": {
            "summary": "write an export on the owner's side; fetch each file with /v1/export/{ticket}/{index}",
            "requestBody": {"content": {"application/json": {"schema": ref(m.ExportRequest)}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": ref(m.ExportResponse)}}}, "409": error("the export failed")}}},
        "/v1/export/{ticket}/{index}": {"get": {
            "summary": "one exported file's bytes (served once)",
            "responses": {"200": {"description": "the file", "content": {"application/octet-stream": {}}},
                          "404": error("fetched already or expired")}}},
    }
    for name, op in OPS.items():
        ok = {"application/json": {"schema": ref(op.response)}}
        if op.streams:
            ok = {"application/x-ndjson": {"schema": {
                "description": '{"progress": {...}} per result as it finishes and {"alive": <unix time>} every 5 s '
                               'while it runs, then {"result": <response>} or {"error": ErrorBody}',
                "type": "object"}}}
        paths[f"/v1/ops/{name}"] = {"post": {
            "summary": op.summary, "x-capability": op.capability(_sample(op)), "x-writes": op.writes(_sample(op)),
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(op.request)}}},
            "responses": {"200": {"description": "done", "content": ok},
                          "400": error("the body does not match the request model"),
                          "403": error("refused by the plan's [access] (recorded as access.refused)"),
                          "408": error("read after the request's deadline: nothing was done"),
                          "409": error("refused or failed (a gate, a checklist rule, a broken chain)"),
                          "503": error("past the owner's connection cap: nothing was done")}}}
    return {"openapi": "3.1.0",
            "info": {"title": "mdm-console session API", "version": f"{m.API_VERSION} (mdm-console {__version__})",
                     "description": "HTTP/1.1 over the Unix socket beside the session db. Each caller is identified "
                                    "by SO_PEERCRED; `operator` in a request is the typed name recorded beside it."},
            "paths": paths, "components": {"schemas": defs.get("$defs", {})},
            "x-event-kinds": {kind: {"$ref": f"#/components/schemas/{model.__name__}",
                                     "description": (model.__doc__ or "").strip().split("\n")[0]}
                              for kind, model in sorted(KINDS.items())}}


def _sample(op):
    fields = {k: ("x" if f.annotation is str else None) for k, f in op.request.model_fields.items() if f.is_required()}
    if op.name == "item":
        fields["action"] = "complete"
    if op.name == "rollback":
        fields["kind"] = "full"
    return op.request.model_construct(**fields)


if __name__ == "__main__":
    import json

    print(json.dumps(document(), indent=2))
