"""Alembic migrations, shipped inside the package so `shipyard migrate` works wherever it is installed."""
