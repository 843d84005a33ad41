"""The unsubscribe link of residents' status e-mails.

``GET`` only shows a button: mail scanners fetch links in messages, and a fetch must not
unsubscribe anyone. The button's ``POST`` (also what one-click ``List-Unsubscribe`` clients
send) does it.
"""

from __future__ import annotations

from html import escape

from flask import Blueprint, Flask, Response

from open311 import notify

bp = Blueprint("unsubscribe", __name__, url_prefix="/notifications")

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>myAurora 311 e-mail</title></head><body>{body}</body></html>"""


def _page(body: str, status: int = 200) -> Response:
    return Response(_PAGE.format(body=body), status=status, mimetype="text/html")


@bp.get("/unsubscribe/<token>")
def confirm(token: str) -> Response:
    """Ask the resident to confirm; changes nothing."""
    return _page(
        f'<form method="post" action="/notifications/unsubscribe/{escape(token)}">'
        "<p>Stop e-mails about this 311 request?</p>"
        '<button type="submit">Unsubscribe</button></form>'
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    """Stop messages about the request; 404 for a token no message carried."""
    row = notify.unsubscribe(token)
    if row is None:
        return _page("<p>This link is not valid.</p>", 404)
    return _page(
        f"<p>You will receive no more e-mails about request "
        f"{escape(row.service_request_id or '')}.</p>"
    )


def init_app(app: Flask) -> None:
    """Register the unsubscribe page."""
    app.register_blueprint(bp)
