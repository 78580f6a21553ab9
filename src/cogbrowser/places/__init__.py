"""Places: the offline gazetteer (GeoNames' towns of 15 000 people or more, shipped in data/),
coordinates typed in any common notation, and the map's place-name labels. Knows nothing of HTTP."""
