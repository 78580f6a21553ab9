-- Counts the Analytics page reads instead of the detections themselves.
--
-- Every filter change of the page asks for counts by class, image and day, a score histogram and
-- the selection's totals. Over 1,000,000 detections each of those read the whole selection (an
-- index-only pass is ~190 ms, the wide table ~370 ms, and a change asks several), so a change took
-- 3 s at p95. Here the detections are kept counted per (image, class, UTC day, score step of 0.01):
-- 15,000 rows where the bench's demo has a million (named and unnamed apart: a name table counts
-- its unnamed detections from here), so the same questions sum thousands of rows, not a million.
-- catalog/queries.py answers from this table when the filters fall on its edges (scores in steps
-- of 0.01, whole UTC days, no name, box or id filter) and from the detections otherwise.
--
-- Triggers keep it equal to the detections: an insert adds its counts (one grouped pass over the
-- statement's new rows, not a row at a time); a delete or an update counts the touched
-- (image, class) pairs again from the detections, since a minimum or a time span cannot be
-- subtracted; a truncate empties it.

-- The score step of a score: the largest k in 0..100 with score >= k / 100 as the detections
-- filters compare (the real score against a double), so `score >= 0.35` selects exactly the steps
-- >= 35. For a 4-byte real that is floor(score * 100): no real lies close enough to a k / 100 for
-- the product to round across an integer (checked for the reals on either side of every step).
CREATE FUNCTION detection_score_step(score real) RETURNS smallint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN floor(score::float8 * 100)::smallint;

CREATE TABLE detection_counts (
    image_id     text NOT NULL,
    target_class text NOT NULL,
    day          date,                       -- the UTC day of detected_at (NULL: no time)
    named        boolean NOT NULL,           -- target_name IS NOT NULL (the unnamed count of a name table)
    score_step   smallint NOT NULL,          -- detection_score_step(score)
    on_step      boolean NOT NULL,           -- score = score_step / 100 exactly (for `score <= x`)
    n            bigint NOT NULL CHECK (n > 0),
    score_sum    double precision NOT NULL,
    score_min    real NOT NULL,
    score_max    real NOT NULL,
    first        timestamptz,
    last         timestamptz,
    CONSTRAINT detection_counts_key UNIQUE NULLS NOT DISTINCT (image_id, target_class, day, named, score_step, on_step)
);

CREATE FUNCTION detection_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO detection_counts AS c
    SELECT image_id, target_class, day, named, step, score::float8 = step::float8 / 100, count(*), sum(score::float8),
           min(score), max(score), min(detected_at), max(detected_at)
    FROM (SELECT image_id, target_class, (detected_at AT TIME ZONE 'UTC')::date AS day,
                 target_name IS NOT NULL AS named, detection_score_step(score) AS step, score, detected_at FROM added) a
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6  -- concurrent imports lock the rows they share in the same order
    ON CONFLICT ON CONSTRAINT detection_counts_key DO UPDATE SET
        n = c.n + excluded.n, score_sum = c.score_sum + excluded.score_sum,
        score_min = least(c.score_min, excluded.score_min), score_max = greatest(c.score_max, excluded.score_max),
        first = least(c.first, excluded.first), last = greatest(c.last, excluded.last);
    RETURN NULL;
END $$;

-- Count the (image, class) pairs a delete or an update touched again, from the detections.
CREATE FUNCTION detection_counts_recount() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    images text[];
    classes text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(image_id), array_agg(target_class) INTO images, classes
        FROM (SELECT image_id, target_class FROM removed UNION SELECT image_id, target_class FROM added) t;
    ELSE
        SELECT array_agg(image_id), array_agg(target_class) INTO images, classes
        FROM (SELECT DISTINCT image_id, target_class FROM removed) t;
    END IF;
    IF images IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM detection_counts c USING unnest(images, classes) AS p (image_id, target_class)
    WHERE c.image_id = p.image_id AND c.target_class = p.target_class;
    INSERT INTO detection_counts
    SELECT image_id, target_class, day, named, step, score::float8 = step::float8 / 100, count(*), sum(score::float8),
           min(score), max(score), min(detected_at), max(detected_at)
    FROM (SELECT d.image_id, d.target_class, (d.detected_at AT TIME ZONE 'UTC')::date AS day,
                 d.target_name IS NOT NULL AS named, detection_score_step(d.score) AS step, d.score, d.detected_at
          FROM unnest(images, classes) AS p (image_id, target_class)
          JOIN detections d ON d.image_id = p.image_id AND d.target_class = p.target_class) a
    GROUP BY 1, 2, 3, 4, 5, 6;
    RETURN NULL;
END $$;

CREATE FUNCTION detection_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE detection_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER detections_counted_insert AFTER INSERT ON detections
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION detection_counts_added();
CREATE TRIGGER detections_counted_delete AFTER DELETE ON detections
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION detection_counts_recount();
CREATE TRIGGER detections_counted_update AFTER UPDATE ON detections
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION detection_counts_recount();
CREATE TRIGGER detections_counted_truncate AFTER TRUNCATE ON detections
    FOR EACH STATEMENT EXECUTE FUNCTION detection_counts_truncated();

INSERT INTO detection_counts
SELECT image_id, target_class, day, named, step, score::float8 = step::float8 / 100, count(*), sum(score::float8),
       min(score), max(score), min(detected_at), max(detected_at)
FROM (SELECT image_id, target_class, (detected_at AT TIME ZONE 'UTC')::date AS day,
             target_name IS NOT NULL AS named, detection_score_step(score) AS step, score, detected_at FROM detections) a
GROUP BY 1, 2, 3, 4, 5, 6;

-- The names the report lists and counts (a name filter, the most seen targets, how many names):
-- named detections only, in name order, with the columns the other filters test.
CREATE INDEX detections_named ON detections (target_name, score) INCLUDE (target_class, detected_at, image_id)
    WHERE target_name IS NOT NULL;

-- The scatter's sample (migration 0007's walk in a fixed pseudo-random order) read each chosen
-- detection's row for its area and box: 5,000 random heap reads, ~220 ms of the page's change over
-- 1,000,000. With those two columns in the index the sample is read from the index alone.
DROP INDEX detections_sample_order;
CREATE INDEX detections_sample_order ON detections (hashint8extended(id, 0), id)
    INCLUDE (target_class, detected_at, score, image_id, target_name, area_m2, bbox);
