"""Online feature stores: SQLite by default, Redis by URL, one interface."""

from mlfactory.features.online.base import OnlineRecord, OnlineStore, Watermark, entity_key, open_online_store

__all__ = ["OnlineRecord", "OnlineStore", "Watermark", "entity_key", "open_online_store"]
