"""The COG core: reading, describing and writing rasters with rasterio/GDAL. Knows nothing of HTTP."""

from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

# What GDAL raises through rasterio for unreadable, truncated or corrupt data.
GDAL_ERRORS = (RasterioError, CPLE_BaseError)
