-- The Analytics page's questions (summary, counts, score histogram, sample) over 1,000,000
-- detections, measured with EXPLAIN (ANALYZE, BUFFERS) and bench/analytics_bench.py.
--
-- 1. A narrow copy of the columns they filter and count by. A class, score or date filter used to
--    be a bitmap heap scan of the whole wide table (geometry, properties: ~62k pages) for every
--    question; this index holds ~1/8 of that and answers them index-only (summary with a score
--    filter 606 -> 232 ms, with a class filter 589 -> 124 ms).
CREATE INDEX detections_analytics ON detections (target_class, detected_at, score)
    INCLUDE (image_id, target_name, id);

-- 2. The scatter's sample is the first N detections in a fixed pseudo-random order (a hash of the
--    id, seed 0: the same points across requests, and a narrower filter keeps the points it still
--    selects). With that order indexed, a broad selection reads N entries and stops instead of
--    hashing and top-N sorting the whole selection (52-118 ms instead of a full scan); the filter
--    columns are included so the walk skips the rows a filter leaves out without reading the table.
CREATE INDEX detections_sample_order ON detections (hashint8extended(id, 0), id)
    INCLUDE (target_class, detected_at, score, image_id, target_name);
