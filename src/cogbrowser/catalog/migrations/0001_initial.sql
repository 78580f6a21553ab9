-- The catalog: collections of images, images (one COG each), detections on images.
-- Spatial columns are PostgreSQL's own `box` in WGS84 degrees (x = longitude, y = latitude) with
-- GiST indexes; no PostGIS. A box that crosses the antimeridian keeps its east edge past 180
-- (e.g. (179.5, 51) .. (181.2, 52)); queries test the request box and the same box shifted by 360.

CREATE TABLE collections (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    bands       jsonb NOT NULL DEFAULT '[]',   -- [{name, common_name, description, center_wavelength}]
    presets     jsonb NOT NULL DEFAULT '[]',   -- [{name, title, bands | expression, rescale, colormap}]
    properties  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    collection_id   text REFERENCES collections (id) ON DELETE RESTRICT,
    title           text,
    path            text NOT NULL,              -- relative to the data dir when managed, else absolute
    managed         boolean NOT NULL,           -- true: the file is ours (in data_dir/cogs) and goes with the row
    source_path     text,
    acquired_at     timestamptz,
    cloud_cover     real CHECK (cloud_cover >= 0 AND cloud_cover <= 100),
    crs             text NOT NULL,              -- WKT2 of the image's CRS
    epsg            integer,
    native_bounds   double precision[] NOT NULL CHECK (cardinality(native_bounds) = 4),
    bbox            box NOT NULL,               -- WGS84; east may exceed 180 across the antimeridian
    footprint       jsonb NOT NULL,             -- GeoJSON Polygon/MultiPolygon, WGS84
    width           integer NOT NULL CHECK (width > 0),
    height          integer NOT NULL CHECK (height > 0),
    band_count      integer NOT NULL CHECK (band_count > 0),
    dtype           text NOT NULL,
    nodata          double precision,           -- may be NaN
    resolution      double precision[] NOT NULL CHECK (cardinality(resolution) = 2),
    transform       double precision[] NOT NULL CHECK (cardinality(transform) = 6),
    overviews       integer[] NOT NULL DEFAULT '{}',
    bands           jsonb NOT NULL,             -- per band: index, name, description, colorinterp, statistics
    mask            text NOT NULL DEFAULT 'none', -- none | nodata | alpha | mask
    compression     text,
    blocksize       integer[],
    checksum        text NOT NULL,              -- sha256 of the stored COG
    source_checksum text NOT NULL,              -- sha256 of the file given to ingest (re-ingest detection)
    size_bytes      bigint NOT NULL,
    properties      jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX images_bbox_gist ON images USING gist (bbox);
CREATE INDEX images_acquired_at ON images (acquired_at);
CREATE INDEX images_collection_acquired ON images (collection_id, acquired_at);
CREATE INDEX images_cloud_cover ON images (cloud_cover);
CREATE UNIQUE INDEX images_source_checksum ON images (source_checksum);

CREATE TABLE detections (
    id           bigserial PRIMARY KEY,
    image_id     text NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    target_class text NOT NULL CHECK (target_class <> ''),
    target_name  text,
    score        real NOT NULL CHECK (score >= 0 AND score <= 1),
    geometry     jsonb NOT NULL,                -- GeoJSON geometry, WGS84
    bbox         box NOT NULL,                  -- WGS84 bounding box of geometry
    pixel_bbox   double precision[] CHECK (pixel_bbox IS NULL OR cardinality(pixel_bbox) = 4),
    area_m2      double precision,              -- geodesic area of the footprint
    detected_at  timestamptz,
    properties   jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX detections_bbox_gist ON detections USING gist (bbox);
CREATE INDEX detections_image_class ON detections (image_id, target_class);
CREATE INDEX detections_class_time ON detections (target_class, detected_at);
CREATE INDEX detections_name ON detections (target_name);
CREATE INDEX detections_detected_at ON detections (detected_at);
CREATE INDEX detections_score ON detections (score);
