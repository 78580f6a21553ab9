"""cogbrowser: an offline Earth-observation browser over a catalog of Cloud Optimized GeoTIFFs."""

__version__ = "0.1.0"
