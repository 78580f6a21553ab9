"""OWS 1.1 exception reports: how WMTS 1.0.0 says "no" (WMS has its own, in wms_exceptions.py).

An `OWSException` carries a standard exceptionCode, a one-line message meant for the person reading
QGIS's log and the parameter at fault (`locator`). `exception_response` writes it as

    <ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">
      <ows:Exception exceptionCode="InvalidParameterValue" locator="TILEMATRIX">
        <ows:ExceptionText>...</ows:ExceptionText>

with the HTTP status WMTS 1.0.0 prescribes for the code (tables 21, 24 and 27 of OGC 07-057r7:
400 for parameter problems and tiles or points out of range, 501 for an operation we do not offer).
RESTful requests name resources in the URL path, and a path that names nothing is a 404 by the
rules of HTTP (07-057r7 §10.2.1: RESTful errors follow the transport's semantics), so the adapter
passes `status=404` for those while keeping the same report. An error raised below the service is
answered as web/problems.py answers it on every surface (`OWSException.answering`): its status and
headers (Retry-After, WWW-Authenticate), InvalidParameterValue for a fault of the request and
NoApplicableCode for any other.

No schemaLocation: clients on an air-gapped network must never be sent to schemas.opengis.net.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Response

from cogbrowser.ogc.common import NOT_STORED, ServiceError
from cogbrowser.web.problems import Problem

OWS_NAMESPACE = "http://www.opengis.net/ows/1.1"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "application/xml"

STATUS = {
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "VersionNegotiationFailed": 400,
    "TileOutOfRange": 400,
    "PointIJOutOfRange": 400,
    "OperationNotSupported": 501,
    "NoApplicableCode": 500,
}


class OWSException(ServiceError):
    """A WMTS request the service cannot answer: the HTTP status of its code, unless `status`."""

    CODES = STATUS

    @staticmethod
    def status_of(code: str) -> int:
        return STATUS[code]

    @classmethod
    def answering(cls, found: Problem) -> OWSException:
        """What web/problems.py answers for an error, as an exception of its status and headers."""
        code = "InvalidParameterValue" if found.status in (400, 404) else "NoApplicableCode"
        return cls(code, found.detail, status=found.status, headers=found.headers)


def exception_report(error: OWSException) -> bytes:
    """The ows:ExceptionReport document of `error`.

    Elements carry the `ows:` prefix literally, with the namespace declared on the root: the output
    is the same namespace-aware XML, without touching ElementTree's process-wide prefix registry.
    """
    root = ET.Element("ows:ExceptionReport", {"xmlns:ows": OWS_NAMESPACE, "version": "1.0.0", "xml:lang": "en"})
    item = ET.SubElement(root, "ows:Exception", exceptionCode=error.code)
    if error.locator:
        item.set("locator", error.locator)
    ET.SubElement(item, "ows:ExceptionText").text = error.message
    return XML_DECLARATION + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def exception_response(error: OWSException, status: int | None = None) -> Response:
    """The HTTP answer carrying the report, with the error's headers and status, or `status` (404 for
    a RESTful path that names nothing)."""
    return Response(exception_report(error), status=status or error.status, content_type=CONTENT_TYPE,
                    headers={**NOT_STORED, **error.headers})
