"""The OpenAPI document of the server, and the same as a readable HTML page (served by
api/openapi.py at `/api/v1/openapi.json` and `/api/v1/docs`).

Every endpoint is declared once with `@endpoint` (endpoints.py); this module turns those
declarations and their pydantic models into an OpenAPI 3.1 document (JSON Schema 2020-12, as
pydantic writes it), and renders the same document as a readable HTML page with no asset from
anywhere but this server (an air-gapped browser has nothing else to load).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cogbrowser import __version__
from cogbrowser.web.endpoints import ENDPOINTS, Endpoint, list_fields
from cogbrowser.web.problems import Problem
from cogbrowser.web.server import MAX_HEADER_BYTES

SCHEMA_REF = "#/components/schemas/{model}"
PROBLEM_TYPES = ("application/problem+json",)
ID_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
_RULE_PARAMETER = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: `/images/<image_id>` -> `/images/{image_id}`."""
    return _RULE_PARAMETER.sub(r"{\2}", rule)


def openapi_document(server_url: str) -> dict:
    """The OpenAPI 3.1 description of every declared endpoint."""
    models = _models()
    refs, top = models_json_schema([(model, "validation") for model in models], ref_template=SCHEMA_REF)
    schemas = top.get("$defs", {})
    ref = {model: refs[(model, "validation")] for model in models}  # two models of one name get two names
    paths: dict[str, dict] = {}
    for spec in ENDPOINTS:
        paths.setdefault(openapi_path(spec.rule), {})[spec.method.lower()] = _operation(spec, ref)
    return {
        "openapi": "3.1.0",
        "info": {"title": "cogbrowser API", "version": __version__,
                 "description": "The catalog of Cloud Optimized GeoTIFFs and detections of this cogbrowser server: "
                                "collections, images (search, upload, metadata), detections (search, "
                                "aggregations, import), reads of image pixels, a STAC API, and XYZ map tiles "
                                "with TileJSON. Errors are RFC 9457 "
                                "problem details. Writes need an API token (`cogbrowser token create NAME`)."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                     "description": "An API token made with `cogbrowser token "
                                                                    "create NAME`, in the Authorization header. "
                                                                    "Reads also take it as `access_token=` in the "
                                                                    "URL; writes never do."}}},
    }


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [Problem]
    for spec in ENDPOINTS:
        answers = [a[0] if isinstance(a, tuple) else a for a in spec.responses.values()]
        for model in (spec.body, *answers):
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in found:
                found.append(model)
    return found


def _operation(spec: Endpoint, ref: dict[type[BaseModel], dict]) -> dict:
    shared = sum(other.name == spec.name for other in ENDPOINTS) > 1  # one declaration, several methods
    operation_id = spec.name.replace(".", "_") + (f"_{spec.method.lower()}" if shared else "")
    operation: dict[str, Any] = {"operationId": operation_id, "summary": spec.summary,
                                 "tags": list(spec.tags) or ["api"]}
    if spec.description:
        operation["description"] = spec.description
    parameters = []
    for converter, name in _RULE_PARAMETER.findall(spec.rule):
        schema = {"type": "integer", "minimum": 0} if converter == "int" else dict(ID_SCHEMA)
        declared = spec.path_parameters.get(name)
        if isinstance(declared, Mapping):  # a schema of its own, e.g. an enum
            schema = {key: value for key, value in declared.items() if key != "description"}
            declared = declared.get("description")
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if declared:
            parameter["description"] = declared
        parameters.append(parameter)
    if spec.query is not None:
        parameters += _query_parameters(spec.query)
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref[spec.body]}}}
    elif spec.raw_body is not None:
        operation["requestBody"] = {"required": spec.raw_body.required, "description": spec.raw_body.description,
                                    "content": {media: {"schema": schema}
                                                for media, schema in spec.raw_body.media_types.items()}}
    responses: dict[str, Any] = {}
    problem = {"content": {media: {"schema": ref[Problem]} for media in PROBLEM_TYPES}}
    for status, answer in spec.responses.items():
        if isinstance(answer, str):  # an error answer given by its description alone: a problem document
            responses[str(status)] = {"description": answer, **problem}
            continue
        responses[str(status)] = _response(status, answer, ref)
        if status >= 400 and not responses[str(status)].get("content"):  # an error's body is a problem document
            responses[str(status)].update(problem)
    responses.setdefault("400", {"description": "Bad request: the `detail` names the parameter or field", **problem})
    responses.setdefault("401", {"description": "An API token is needed, or the one given is not valid", **problem})
    if spec.path_parameters or _RULE_PARAMETER.search(spec.rule):
        responses.setdefault("404", {"description": "No such object in the catalog", **problem})
    too_large = f"over {MAX_HEADER_BYTES // 1024} KiB: refused by the server front before the API sees them"
    responses.setdefault("431", {"description": f"The URL or headers are too large ({too_large})", **problem})
    responses["default"] = {"description": "Any other error, as problem details", **problem}
    operation["responses"] = responses
    if spec.access == "write":
        operation["security"] = [{"token": []}]
    else:
        operation["security"] = [{}, {"token": []}]  # open by default; a server may require a token
    return operation


def _response(status: int, answer: Any, ref: dict[type[BaseModel], dict]) -> dict:
    if isinstance(answer, tuple):  # (model, {other media type: schema}): one answer in several formats
        model, others = answer
        described = _response(status, model, ref)
        described["content"].update({media: {"schema": schema} for media, schema in others.items()})
        return described
    if answer is None:
        return {"description": _STATUS_TEXT.get(status) or HTTPStatus(status).phrase}
    if isinstance(answer, type) and issubclass(answer, BaseModel):
        media = getattr(answer, "media_type", "application/json")
        return {"description": (answer.__doc__ or _STATUS_TEXT.get(status, "Success")).strip().splitlines()[0],
                "content": {media: {"schema": ref[answer]}}}
    described = {"description": answer.get("description", _STATUS_TEXT.get(status, "Success")),
                 "content": answer.get("content", {})}
    if answer.get("headers"):
        described["headers"] = answer["headers"]
    return described


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    properties = model.model_json_schema(by_alias=True, ref_template=SCHEMA_REF).get("properties", {})
    multiple = list_fields(model)
    parameters = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        schema, description = _parameter_schema(properties.get(alias, {}))
        description = description or info.description
        parameter = {"name": alias, "in": "query", "required": info.is_required(), "schema": schema}
        if description:
            parameter["description"] = description
        if alias in multiple:
            parameter.update(style="form", explode=alias in getattr(model, "repeated", ()))
        parameters.append(parameter)
    return parameters


def _parameter_schema(schema: dict) -> tuple[dict, str | None]:
    """A field's JSON schema as a query parameter's: no `null` alternative (a parameter left out
    is the null), no title, and its description lifted out. Returns (schema, description)."""
    schema = {k: v for k, v in schema.items() if k != "title" and not (k == "default" and v is None)}
    description = schema.pop("description", None)
    options = schema.pop("anyOf", None)
    if options is not None:
        options = [option for option in options if option.get("type") != "null"]
        if len(options) == 1:
            inner, inner_description = _parameter_schema(options[0])
            schema.update(inner)
            description = description or inner_description
        else:
            schema["anyOf"] = options
    return schema, description


_STATUS_TEXT = {200: "Success", 201: "Created", 202: "Accepted: running in the background", 204: "Done, no content",
                206: "Partial content: the ranges asked", 304: "Not modified", 410: "Gone: the file is missing",
                416: "Range not satisfiable", 503: "Unavailable"}


# ---------------------------------------------------------------- the HTML page

_STYLE = """
body{font:14px/1.5 system-ui,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f8fa}
header{background:#1d2733;color:#fff;padding:1rem 2rem}header h1{margin:0;font-weight:600;font-size:1.4rem}
header p{margin:.3rem 0 0;color:#c9d3dd;max-width:60rem}main{display:flex;gap:2rem;padding:1.5rem 2rem}
nav{min-width:14rem;position:sticky;top:1rem;align-self:flex-start;font-size:13px}nav a{display:block;color:#2d5f8b;
text-decoration:none;padding:.1rem 0}nav h3{margin:1rem 0 .2rem;font-size:12px;text-transform:uppercase;color:#66727f}
section{flex:1;max-width:68rem}
.op{background:#fff;border:1px solid #dde3ea;border-radius:6px;margin:0 0 1rem;padding:.8rem 1rem}
.op h2{font-size:1rem;margin:0;font-family:ui-monospace,Consolas,monospace;font-weight:600}
.m{display:inline-block;min-width:4rem;text-align:center;border-radius:4px;color:#fff;font-size:12px;
padding:.1rem .4rem;margin-right:.5rem}
.get{background:#2f7d4a}.post{background:#2d5f8b}.patch{background:#9a6a12}.delete{background:#a23a3a}
.put{background:#6b4fa0}.head{background:#4f6b7a}.options{background:#7a7a7a}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:13px}th,td{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #eef1f4;vertical-align:top}th{color:#66727f;font-weight:500}
code{font-family:ui-monospace,Consolas,monospace}.lock{color:#a23a3a;font-size:12px}details{margin:.3rem 0}
pre{background:#f3f6f9;padding:.6rem;overflow:auto;font-size:12px}
"""


def render_docs(document: dict) -> str:
    """The OpenAPI document as one self-contained HTML page (inline style, no scripts)."""
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            by_tag.setdefault(operation["tags"][0], []).append((method, path, operation))
    nav, body = [], []
    for tag in sorted(by_tag):
        nav.append(f"<h3>{html.escape(tag)}</h3>")
        for method, path, operation in by_tag[tag]:
            anchor = operation["operationId"]
            nav.append(f'<a href="#{anchor}">{method.upper()} {html.escape(path)}</a>')
            body.append(_operation_html(method, path, operation))
    schemas = "".join(f"<details><summary><code>{html.escape(name)}</code></summary>"
                      f"<pre>{html.escape(json.dumps(schema, indent=2))}</pre></details>"
                      for name, schema in sorted(document["components"]["schemas"].items()))
    info = document["info"]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(info['title'])}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{html.escape(info['title'])} "
            f"{html.escape(info['version'])}</h1><p>{html.escape(info['description'])}</p>"
            f"<p>Machine-readable: <a style='color:#9fd0ff' href='openapi.json'>openapi.json</a></p></header>"
            f"<main><nav>{''.join(nav)}<h3>schemas</h3><a href='#schemas'>all schemas</a></nav><section>"
            f"{''.join(body)}<h2 id='schemas'>Schemas</h2>{schemas}</section></main></body></html>")


def _operation_html(method: str, path: str, operation: dict) -> str:
    lock = "" if {} in operation.get("security", [{}]) else " <span class='lock'>needs a token</span>"
    rows = "".join(
        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
        f"<td><code>{html.escape(_type(p['schema']))}</code></td><td>{'yes' if p.get('required') else ''}</td>"
        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", []))
    parameters = (f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th></th></tr>{rows}</table>"
                  if rows else "")
    body = ""
    if "requestBody" in operation:
        media = ", ".join(f"<code>{html.escape(m)}</code> {html.escape(_type(c.get('schema', {})))}"
                          for m, c in operation["requestBody"]["content"].items())
        body = f"<p>Body: {media}. {html.escape(operation['requestBody'].get('description', ''))}</p>"
    answers = "".join(
        f"<tr><td>{status}</td><td>{html.escape(answer['description'])}</td><td>"
        + ", ".join(f"<code>{html.escape(m)}</code> {html.escape(_type(c.get('schema', {})))}"
                    for m, c in answer.get("content", {}).items()) + "</td></tr>"
        for status, answer in operation["responses"].items())
    description = html.escape(operation.get("description", "")).replace("\n\n", "<br><br>")
    return (f"<div class='op' id='{operation['operationId']}'><h2><span class='m {method}'>{method.upper()}</span>"
            f"{html.escape(path)}</h2><p><b>{html.escape(operation['summary'])}</b>{lock}</p><p>{description}</p>"
            f"{parameters}{body}<table><tr><th>status</th><th>answer</th><th>body</th></tr>{answers}</table></div>")


def _type(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(schema.get("type", schema.get("format", "")) or "any")
