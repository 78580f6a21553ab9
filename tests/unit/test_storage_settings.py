"""The object-store settings (docs/storage.md): a bad value stops the command with one line that
names the setting and what it takes, before anything is served or written."""

from __future__ import annotations

import re

import pytest

from cogbrowser.config import Settings
from cogbrowser.errors import InvalidInput


@pytest.mark.parametrize(("name", "value", "said"), [
    ("COGBROWSER_RAW_ACCESS", "teleport", "COGBROWSER_RAW_ACCESS must be 'proxy' or 'redirect', not 'teleport'"),
    ("COGBROWSER_RAW_URL_SECONDS", "-5", "COGBROWSER_RAW_URL_SECONDS must be a positive whole number, not '-5'"),
    ("COGBROWSER_RAW_URL_SECONDS", "soon", "COGBROWSER_RAW_URL_SECONDS must be a positive whole number, not 'soon'"),
    ("COGBROWSER_STORAGE", "ftp://archive/cogs",
     "storage 'ftp://archive/cogs' is not swift://container/prefix or s3://bucket/prefix"),
    ("COGBROWSER_STORAGE", "swift://", "storage 'swift://' names no valid container"),
])
def test_a_bad_storage_setting_is_named(monkeypatch, tmp_path, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=re.escape(said)):
        Settings.from_env(data_dir=tmp_path)


def test_the_storage_settings_as_given(monkeypatch, tmp_path):
    monkeypatch.setenv("COGBROWSER_STORAGE", "s3://eo-archive/cogbrowser")
    monkeypatch.setenv("COGBROWSER_RAW_ACCESS", " Redirect ")
    monkeypatch.setenv("COGBROWSER_RAW_URL_SECONDS", "600")
    settings = Settings.from_env(data_dir=tmp_path)
    assert settings.storage is not None
    assert (settings.storage.scheme, settings.storage.container, settings.storage.prefix) == (
        "s3", "eo-archive", "cogbrowser/")
    assert (settings.raw_access, settings.raw_url_seconds) == ("redirect", 600)
