"""The REST API (/api/v1, with its OpenAPI document), the STAC API (/stac) and the raw COG bytes
(/cogs): thin adapters over the catalog, the layers and the raster core, on the web layer."""

from __future__ import annotations

from flask import Blueprint

from cogbrowser.api import (
    acquisitions,
    cogs,
    collection_reads,
    collections,
    detections,
    health,
    image_reads,
    images,
    jobs,
    openapi,
    places,
    stac,
    uploads,
    views,
)


def blueprints() -> list[Blueprint]:
    """Every blueprint of the APIs, in the order they are registered."""
    return [health.blueprint, cogs.blueprint, openapi.blueprint, collections.blueprint, collection_reads.blueprint,
            images.blueprint, acquisitions.blueprint, uploads.blueprint, jobs.blueprint, image_reads.blueprint,
            detections.blueprint, views.blueprint, places.blueprint, stac.blueprint]
