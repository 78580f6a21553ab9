-- Images registered in place (`cogbrowser ingest --in-place`) carry a seal: an HMAC of their id and
-- path under a key only the data dir's owner can read (catalog/files.py). The server reads a file
-- outside DATA_DIR/cogs only for a row whose seal holds, so a row pointed elsewhere (by whoever
-- could write to the catalog) is refused when served. Rows registered in place before this
-- migration are sealed at the upgrade if their file still has the checksum they were registered with.
ALTER TABLE images ADD COLUMN in_place_seal text;
