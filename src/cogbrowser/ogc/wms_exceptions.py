"""OGC service exception reports: how WMS says "no" (ServiceExceptionReport, 1.1.1 and 1.3.0).

A `WMSError` carries a standard code, a one-line message meant for the person reading QGIS's log,
and optionally the parameter at fault (`locator`). `exception_response` writes it in the dialect
of the request's version:

- 1.1.1: `<ServiceExceptionReport version="1.1.1">` without a namespace, served as
  `application/vnd.ogc.se_xml`;
- 1.3.0: the same in the `http://www.opengis.net/ogc` namespace, served as `text/xml`.

The one code whose name differs between versions, InvalidCRS (1.3.0) / InvalidSRS (1.1.1), is
translated here, so callers raise InvalidCRS everywhere. Neither the DTD nor the schemaLocation of
schemas.opengis.net is referenced: clients on an air-gapped network must never be sent elsewhere.

HTTP status: 200 (except for what is no fault of the request, e.g. 410 for an image whose file is
gone: those reports carry no code). The WMS specifications define errors by the report, not by the status, and the
clients we serve read it that way: GDAL's WMS driver parses an XML body it receives with 200 and
shows the report's message (with 400 it only reports "HTTP error code 400"), OWSLib recognises a
200 report by its Content-Type (for 400 it raises with the raw body), and MapServer and GeoServer
answer 200 too. The Content-Type carries no charset parameter, because OWSLib compares it exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from flask import Response

from cogbrowser.ogc.common import NOT_STORED

OGC_NAMESPACE = "http://www.opengis.net/ogc"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPES = {"1.1.1": "application/vnd.ogc.se_xml", "1.3.0": "text/xml"}

# The codes of WMS 1.1.1 / 1.3.0, plus the OWS codes GIS servers use for parameter problems.
CODES = frozenset({
    "InvalidFormat", "InvalidCRS", "LayerNotDefined", "StyleNotDefined", "LayerNotQueryable",
    "InvalidPoint", "CurrentUpdateSequence", "InvalidUpdateSequence", "MissingDimensionValue",
    "InvalidDimensionValue", "OperationNotSupported", "MissingParameterValue", "InvalidParameterValue",
    "NoApplicableCode",  # OWS's code for a failure that is not the request's (e.g. a render past its deadline)
})
_VERSION_NAMES = {"1.1.1": {"InvalidCRS": "InvalidSRS"}}


class WMSError(Exception):
    """A request the service cannot answer: `code` (a WMS code), `message`, optional `locator`.

    A fault that is not the request's has no code (the attribute is optional in both versions) and
    its own HTTP `status`: e.g. 410 when an image's file is gone, which the report then explains.
    """

    def __init__(self, code: str | None, message: str, locator: str | None = None, status: int = 200) -> None:
        if code is not None and code not in CODES:
            raise ValueError(f"not a WMS exception code: {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.locator = locator
        self.status = status

    def code_for(self, version: str) -> str | None:
        """The code as `version` spells it (InvalidSRS in 1.1.1, InvalidCRS in 1.3.0)."""
        return None if self.code is None else _VERSION_NAMES.get(version, {}).get(self.code, self.code)


def exception_report(error: WMSError, version: str) -> bytes:
    """The ServiceExceptionReport document of `error` for WMS `version` ("1.1.1" or "1.3.0")."""
    root = ET.Element("ServiceExceptionReport", version=version)
    if version == "1.3.0":
        root.set("xmlns", OGC_NAMESPACE)  # declared as an attribute: ElementTree's namespace map is global
    item = ET.SubElement(root, "ServiceException")
    code = error.code_for(version)
    if code:
        item.set("code", code)
    if error.locator:
        item.set("locator", error.locator)
    item.text = error.message
    return XML_DECLARATION + ET.tostring(root, encoding="utf-8")


def exception_response(error: WMSError, version: str, headers: Mapping[str, str] | None = None) -> Response:
    """The HTTP answer carrying the report: status 200 for the request's faults (see the module
    docstring); the error's own status where HTTP itself has the answer (401 for a missing or bad
    token, with its challenge; 410 file gone; 503 busy, with Retry-After...)."""
    return Response(exception_report(error, version), status=error.status, content_type=CONTENT_TYPES[version],
                    headers={**NOT_STORED, **(headers or {})})
