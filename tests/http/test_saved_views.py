"""`/api/v1/views`: saved views of the Browse page over the REST API, and `/views/{id}`, the link
that opens one; names unique whatever their case, states checked, writes need a token."""

from __future__ import annotations

import requests

from cogbrowser.catalog import queries
from cogbrowser.web.tokens import hash_token

TOKEN = "cgb_saved-views-test-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATE = "lat=45.77&lon=13.59&zoom=12&image=S2_demo_20240601&style=ndvi&from=2024-04-01"


def with_token(db) -> None:
    with db.connection() as conn:
        queries.create_token(conn, "views", hash_token(TOKEN))


def test_save_list_rename_open_and_delete(live_server, db):
    with_token(db)
    url = f"{live_server}/api/v1/views"
    created = requests.post(url, json={"name": "Port in NDVI", "state": "?" + STATE}, headers=AUTH)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["name"] == "Port in NDVI" and view["state"] == STATE, "the '?' is not part of the state"
    assert created.headers["Location"].endswith(f"/api/v1/views/{view['id']}")
    second = requests.post(url, json={"name": "Whole coast", "state": "zoom=9&lat=45.7&lon=13.6"}, headers=AUTH).json()

    listed = requests.get(url).json()
    assert [v["name"] for v in listed["views"]] == ["Whole coast", "Port in NDVI"] and listed["matched"] == 2
    page = requests.get(url, params={"limit": 1}).json()
    following = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert [v["name"] for v in requests.get(following).json()["views"]] == ["Port in NDVI"]

    renamed = requests.patch(f"{url}/{view['id']}", json={"name": "Port, NDVI"}, headers=AUTH)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Port, NDVI"
    assert renamed.json()["state"] == STATE
    link = next(link["href"] for link in view["links"] if link["rel"] == "view")
    opened = requests.get(f"{live_server}{link}", allow_redirects=False)
    assert opened.status_code == 302 and opened.headers["Location"] == f"/?{STATE}"

    assert requests.delete(f"{url}/{second['id']}", headers=AUTH).status_code == 204
    assert requests.get(f"{url}/{second['id']}").status_code == 404
    assert requests.get(f"{live_server}/views/{second['id']}", allow_redirects=False).status_code == 404
    assert [v["name"] for v in requests.get(url).json()["views"]] == ["Port, NDVI"]


def test_names_are_unique_whatever_their_case_and_bad_input_is_named(live_server, db):
    with_token(db)
    url = f"{live_server}/api/v1/views"
    first = requests.post(url, json={"name": "Harbour", "state": STATE}, headers=AUTH).json()
    taken = requests.post(url, json={"name": "HARBOUR", "state": STATE}, headers=AUTH)
    assert taken.status_code == 409 and "'HARBOUR' exists" in taken.json()["detail"]
    other = requests.post(url, json={"name": "Fields", "state": STATE}, headers=AUTH).json()
    clash = requests.patch(f"{url}/{other['id']}", json={"name": "harbour"}, headers=AUTH)
    assert clash.status_code == 409
    for body, field in (({"name": "", "state": STATE}, "name"), ({"name": "x" * 101, "state": STATE}, "name"),
                        ({"name": "A", "state": "x" * 9000}, "state"), ({"name": "A", "state": "<script>=1"}, "state"),
                        ({"name": "A"}, "state")):
        answer = requests.post(url, json=body, headers=AUTH)
        assert answer.status_code == 400 and field in answer.json()["detail"], (body, answer.text)
    assert requests.patch(f"{url}/999999", json={"name": "Nope"}, headers=AUTH).status_code == 404
    assert requests.get(f"{url}/{first['id']}").json()["name"] == "Harbour"


def test_writes_need_a_token(live_server, db):
    with_token(db)
    url = f"{live_server}/api/v1/views"
    assert requests.post(url, json={"name": "Anonymous", "state": STATE}).status_code == 401
    view = requests.post(url, json={"name": "Mine", "state": STATE}, headers=AUTH).json()
    assert requests.delete(f"{url}/{view['id']}").status_code == 401
    assert requests.patch(f"{url}/{view['id']}", json={"name": "Theirs"}).status_code == 401
    assert requests.get(url).status_code == 200, "reads are open unless the server says otherwise"
