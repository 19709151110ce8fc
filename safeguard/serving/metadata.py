"""The one SQLAlchemy ``MetaData`` every serving-database table belongs to (``state_tables``, ``risk_tables``); the
migrations' environment compares against it."""

import sqlalchemy as sa

metadata = sa.MetaData()
