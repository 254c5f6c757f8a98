"""The host: the WSGI application with its mount table of faces and its middleware list
(app.py), the header door (door.py), `serve`'s waitress server (server.py), `web`'s gunicorn
application (production.py) and nginx's configuration (nginx.py). It mounts the faces (asmx/,
rest/, admin/) and the kit (web/); nothing below imports it."""
