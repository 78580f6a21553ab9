"""The sign-in page (`/signin`) and sign-out (`/signout`), for servers whose reads need a token.

A browser cannot send `Authorization` with the tiles and callbacks of a page, so a user pastes an
API token here once; it is exchanged for an HttpOnly, SameSite=Strict session cookie
(web/sessions.py), and the pages work. There are no user accounts: a person signs in with a token
made for them (`cogbrowser token create NAME`), and `cogbrowser token revoke NAME` ends every
session it opened. When reads are open, neither page is needed, and both send the browser to `/`.

A plain HTML form (no script, nothing from another host), in the pages' own stylesheet. The form
and sign-out are POSTs that must come from this server's own pages (their Origin), so another
site can neither sign a browser in under its own token nor sign it out.
"""

from __future__ import annotations

from html import escape

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from cogbrowser.web.context import services
from cogbrowser.web.sessions import (
    SIGNIN_PATH,
    SIGNOUT_PATH,
    clear_session_cookie,
    local_path,
    same_origin,
    session_cookie,
    set_session_cookie,
)

blueprint = Blueprint("signin", __name__)
MAX_FORM_BYTES = 8192  # a token and a path back


@blueprint.get(SIGNIN_PATH)
def signin_page() -> BaseResponse:
    """The form; a browser already signed in goes straight back to where it was going."""
    context = services()
    target = local_path(request.args.get("next"))
    if context.settings.read_access != "token" or context.sessions.holder(session_cookie()) is not None:
        return redirect(target, 303)
    return _page(target)


@blueprint.post(SIGNIN_PATH)
def sign_in() -> BaseResponse:
    """Exchange the pasted token for a session cookie, then go back to the page asked for."""
    context = services()
    if context.settings.read_access != "token":
        return redirect("/", 303)
    if not same_origin():
        return _page("/", "This sign-in did not come from this server's own page; open the sign-in page "
                     "and try again.", 403)
    request.max_content_length = MAX_FORM_BYTES
    target = local_path(request.form.get("next"))
    token = request.form.get("token", "").strip()
    if not token:
        return _page(target, "Paste your API token.", 400)
    cookie = context.sessions.open(token) if token.isascii() else None
    if cookie is None:
        return _page(target, "This token is not valid: it is unknown to this server, or it was revoked.", 401)
    answer = redirect(target, 303)
    set_session_cookie(answer, cookie)
    return answer


@blueprint.post(SIGNOUT_PATH)
def sign_out() -> BaseResponse:
    """End the session in this browser: the cookie is deleted."""
    if not same_origin():
        return _page("/", "This sign-out did not come from this server's own page.", 403)
    answer = redirect(SIGNIN_PATH if services().settings.read_access == "token" else "/", 303)
    clear_session_cookie(answer)
    return answer


def _page(target: str, message: str | None = None, status: int = 200) -> Response:
    """The sign-in page, with a message when the last attempt failed (never what was pasted)."""
    note = f'<p class="message error" role="alert">{escape(message)}</p>' if message else ""
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · cogbrowser</title>
<link rel="stylesheet" href="/assets/cogbrowser.css">
</head>
<body>
<div class="app">
<header class="topbar"><span class="brand">cogbrowser</span></header>
<main class="page signin-page">
<form class="signin" method="post" action="{SIGNIN_PATH}">
<h1>Sign in</h1>
<p class="hint">This server shows its catalog to holders of an API token. Paste yours; an
administrator makes one with <code>cogbrowser token create NAME</code> on the server.</p>
{note}
<div class="field"><label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required autofocus></div>
<input type="hidden" name="next" value="{escape(target)}">
<button type="submit">Sign in</button>
</form>
</main>
</div>
</body>
</html>
"""
    return Response(body, status=status, mimetype="text/html",
                    headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})
