"""Getting data in: rasters to COGs, detections from CSV/GeoJSON."""
