"""HTTP adapters over the catalog and the raster core: REST /api/v1, STAC, raw COG bytes."""
