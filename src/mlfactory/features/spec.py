"""What serving needs to know about a model's feature service, stored in the model version's signature.

The server never runs project code: it reads this spec (join keys, features and their types, TTLs, defaults,
code versions) from the signature and looks the values up in the online store. The records themselves
(:class:`~mlfactory.entities.ServiceSpec`, :class:`~mlfactory.entities.ViewSpec`) live with the signature on
the bottom floor; this module builds them from the project's feature definitions.
"""

from __future__ import annotations

from mlfactory.entities import ServiceSpec, ViewSpec
from mlfactory.features.definitions import FeatureService

ON_MISSING = ("reject", "defaults")


def service_spec(service: FeatureService, on_missing: str = "reject") -> ServiceSpec:
    """The spec of a feature service as a model trained on it records it.

    Args:
        service: the service's definition: the views it selects and the features taken from each.
        on_missing: ``reject`` or ``defaults``, what serving does for an entity with no value in time.
    """
    views = []
    for sel in service.selections():
        v = sel.view
        views.append(
            ViewSpec(
                name=v.name,
                join_keys=v.join_keys,
                features={n: v.features[n] for n in sel.names},
                ttl_seconds=v.ttl_seconds,
                defaults={n: v.defaults[n] for n in sel.names if n in v.defaults},
                code_version=v.code_version,
            )
        )
    return ServiceSpec(name=service.name, views=tuple(views), on_missing=on_missing)


__all__ = ["ON_MISSING", "ServiceSpec", "ViewSpec", "service_spec"]
