"""`/`: until the Dash Browse page lands, a plain page listing what the catalog holds."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template_string

from cogbrowser.catalog import queries

blueprint = Blueprint("home", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cogbrowser</title>
<style>
 body { font: 14px/1.45 system-ui, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem; color: #1d2733; }
 h1 { font-weight: 600; } table { border-collapse: collapse; width: 100%; }
 th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #dde3ea; }
 th { background: #f3f6f9; } .num { text-align: right; font-variant-numeric: tabular-nums; }
</style></head><body>
<h1>cogbrowser</h1>
<p>{{ s.collections }} collections, {{ s.images }} images, {{ s.detections }} detections
{%- if s.first_acquired %}, acquired {{ s.first_acquired.date() }} to {{ s.last_acquired.date() }}{% endif %}.</p>
{% if images %}
<table><thead><tr><th>Image</th><th>Collection</th><th>Acquired</th><th class="num">Cloud %</th>
<th class="num">Size (px)</th><th>Bands</th><th class="num">Detections</th></tr></thead><tbody>
{% for i in images %}<tr><td>{{ i.id }}</td><td>{{ i.collection_id or "" }}</td>
<td>{{ i.acquired_at.strftime("%Y-%m-%d %H:%M") if i.acquired_at else "" }}</td>
<td class="num">{{ "%.1f"|format(i.cloud_cover) if i.cloud_cover is not none else "" }}</td>
<td class="num">{{ i.width }} x {{ i.height }}</td><td>{{ i.band_count }} x {{ i.dtype }}</td>
<td class="num">{{ i.detection_count }}</td></tr>{% endfor %}
</tbody></table>
{% else %}<p>The catalog is empty: add rasters with <code>cogbrowser ingest PATH...</code>.</p>{% endif %}
</body></html>"""


@blueprint.get("/")
def index():
    db = current_app.extensions["cogbrowser.db"]
    with db.connection() as conn:
        summary = queries.catalog_summary(conn)
        images = queries.search_images(conn, queries.ImageQuery(limit=500))
    return render_template_string(_PAGE, s=summary, images=images)
