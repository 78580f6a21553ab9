"""The COG core: reading, describing and writing rasters with rasterio/GDAL. Knows nothing of HTTP."""
