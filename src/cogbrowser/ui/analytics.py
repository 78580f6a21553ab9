"""The Analytics page (`/analytics`): the detections dashboard (scatter, bars, Markdown report)."""

from __future__ import annotations

from dash import html


def layout() -> html.Div:
    return html.Div(className="page", children=[
        html.Aside(className="panel", children=[html.H2("Filters")]),
        html.Div(className="dashboard", children=[html.Div(className="card wide", children=[html.H3("Report")])]),
    ])
