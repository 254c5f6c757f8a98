"""The operator's jobs page (/admin/): app.py, and its Jinja2 templates."""
