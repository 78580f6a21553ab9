"""Web pages: the Browse map and the Analytics dashboard."""
