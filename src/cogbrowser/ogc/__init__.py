"""OGC services over the raster core: WMS 1.1.1/1.3.0, WMTS 1.0.0, XYZ tiles."""
