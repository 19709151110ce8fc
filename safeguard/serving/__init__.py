"""The serving database the downstream teams read (design §3.5): schema, migrations and connections.

SQLAlchemy Core only, so the same code runs on SQLite (the embedded default) and PostgreSQL (production).
The schema is owned by :mod:`safeguard.serving.schema` and brought to the head revision by Alembic
(:func:`safeguard.serving.db.upgrade`).
"""
