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

HTTP status: 200 for the request's faults. A fault that is not the request's (an image whose file is
gone, an outage, a render stopped at its deadline, a token refused) is reported with code
NoApplicableCode and the very status and headers (Retry-After, WWW-Authenticate) the REST API gives
it (`WMSError.answering`, from web/problems.py's table). The WMS specifications define errors by the
report, not by the status, and the clients we serve read it that way: GDAL's WMS driver parses an
XML body it receives with 200 and shows the report's message (with 400 it only reports "HTTP error
code 400"), OWSLib recognises a 200 report by its Content-Type (for 400 it raises with the raw body),
and MapServer and GeoServer answer 200 too. The Content-Type carries no charset parameter, because
OWSLib compares it exactly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask import Response

from cogbrowser.ogc.common import NOT_STORED, ServiceError
from cogbrowser.web.problems import Problem

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
# The code of an error raised below the service, by the status problems.py gives it: the request's
# faults; any other status is NoApplicableCode.
_REQUEST_FAULT_CODES = {400: "InvalidParameterValue", 404: "LayerNotDefined"}


class WMSError(ServiceError):
    """A WMS request the service cannot answer: HTTP 200 for the request's faults, unless `status`."""

    CODES = CODES

    @classmethod
    def answering(cls, found: Problem) -> WMSError:
        """What web/problems.py answers for an error, as WMS says it: a fault of the request with its
        code and HTTP 200, like the service's own; any other as NoApplicableCode with the problem's
        status and headers."""
        code = _REQUEST_FAULT_CODES.get(found.status)
        if code is not None:
            return cls(code, found.detail)
        return cls("NoApplicableCode", found.detail, status=found.status, headers=found.headers)

    def code_for(self, version: str) -> str:
        """The code as `version` spells it (InvalidSRS in 1.1.1, InvalidCRS in 1.3.0)."""
        return _VERSION_NAMES.get(version, {}).get(self.code, self.code)


def exception_report(error: WMSError, version: str) -> bytes:
    """The ServiceExceptionReport document of `error` for WMS `version` ("1.1.1" or "1.3.0")."""
    root = ET.Element("ServiceExceptionReport", version=version)
    if version == "1.3.0":
        root.set("xmlns", OGC_NAMESPACE)  # declared as an attribute: ElementTree's namespace map is global
    item = ET.SubElement(root, "ServiceException")
    item.set("code", error.code_for(version))
    if error.locator:
        item.set("locator", error.locator)
    item.text = error.message
    return XML_DECLARATION + ET.tostring(root, encoding="utf-8")


def exception_response(error: WMSError, version: str) -> Response:
    """The HTTP answer carrying the report, with the error's status and headers (see the module docstring)."""
    return Response(exception_report(error, version), status=error.status, content_type=CONTENT_TYPES[version],
                    headers={**NOT_STORED, **error.headers})
