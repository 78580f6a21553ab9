"""HTTP plumbing that every surface stands on: the REST and STAC APIs (api/), the OGC services and
tiles (ogc/) and the pages (ui/).

- context.py    the app's services (settings, catalog, caches, jobs, basemap) as one typed object;
- endpoints.py  the one way an endpoint is declared: route, parameters, body, answers, access;
- params.py     parameter types every endpoint shares (ids, bbox, datetime, render parameters);
- problems.py   RFC 9457 problem details, and the error handlers;
- tokens.py, auth.py  API tokens and the access check before every request;
- cors.py       cross-origin access to the APIs;
- openapi.py    the OpenAPI document and its HTML page, generated from the declarations;
- rendering.py, cache.py  the one answer for rendered pictures: ETag, 304, a shared cache.

It knows Flask and the layers below it (layers, catalog, raster), and nothing of the adapters above.
"""
