-- Every change to images or collections notifies the channel `cogbrowser_catalog` (at commit, once
-- per transaction and table), whichever process or client made it. Servers keep the layers they
-- looked up in memory and forget them on a notification, instead of asking the catalog for every
-- tile (catalog/changes.py).
CREATE FUNCTION cogbrowser_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cogbrowser_catalog', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER images_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON images
    FOR EACH STATEMENT EXECUTE FUNCTION cogbrowser_notify_change();
CREATE TRIGGER collections_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON collections
    FOR EACH STATEMENT EXECUTE FUNCTION cogbrowser_notify_change();
