-- The Analytics scatter's sample is the first N detections in a fixed pseudo-random order (a hash
-- of the id, seed 0). With that order indexed, a broad selection reads N rows from the index and
-- stops instead of hashing and top-N sorting the whole selection (1,000,000 detections:
-- bench/analytics_bench.py). The same hash as queries.sample_detections, so the points stay the
-- same across requests and a narrower filter keeps the points it still selects.
CREATE INDEX detections_sample_order ON detections (hashint8extended(id, 0), id);
