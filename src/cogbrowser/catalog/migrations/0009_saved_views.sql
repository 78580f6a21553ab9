-- Saved views (pins): a named state of the Browse page (its query string: the layer, its look, the
-- dates, the area, the map's view), kept in the catalog so a team shares them. A name is unique
-- whatever its case; the state is the page's own URL grammar (ui/map_state.py), checked when written.
CREATE TABLE saved_views (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    state       text NOT NULL CHECK (length(state) <= 8000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX saved_views_name ON saved_views (lower(name));
