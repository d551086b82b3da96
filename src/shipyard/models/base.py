"""The declarative base and column types every model uses, defined in `kit/orm.py` (decision 0038).

They live in kit because kit's own table (the Idempotency-Key store, `kit/idempotency_key.py`) needs
them too, and kit sits below models: models import kit, never the other way round.
"""

from __future__ import annotations

from shipyard.kit.orm import NAMING_CONVENTION, Base, JSONType, Timestamped, id_column, utcnow

__all__ = ["NAMING_CONVENTION", "Base", "JSONType", "Timestamped", "id_column", "utcnow"]
