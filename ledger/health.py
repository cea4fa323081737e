"""How far the helpers are behind the write side, asked of the database: what /readyz
judges and /metrics reports."""

from dataclasses import dataclass
from datetime import datetime

from crypto.records import decode_entry
from ledger.account import ENTRY_TOPICS, entry_event
from ledger.node import Node
from ledger.settings import Limits


@dataclass(frozen=True)
class Lags:
    """Entries appended, in the log and in the read models, and how old the oldest entry
    each of them still lacks is (0 when it lacks none)."""

    appended: int  # notification id of the newest entry
    tree_size: int
    integration_entries: int
    integration_seconds: float
    projection_entries: int
    projection_seconds: float


def _age(node: Node, position: int, now: datetime) -> float:
    """Seconds since the first entry after notification `position` was recorded."""
    found = node.store.recorder.select_notifications(
        start=position + 1, limit=1, topics=ENTRY_TOPICS
    )
    if not found:
        return 0.0
    event = entry_event(node.store.mapper.to_domain_event(found[0]))
    recorded = datetime.fromisoformat(decode_entry(event.entry.encode()).recorded_at)
    return max(0.0, (now - recorded).total_seconds())


def lags(node: Node, projected: int, now: datetime) -> Lags:
    """The lags now, the read models being at notification `projected`."""
    appended = node.store.recorder.max_notification_id() or 0
    integrated = node.log.max_tracking_id(node.store.name) or 0
    return Lags(
        appended=appended,
        tree_size=node.log.tree_size(),
        integration_entries=appended - integrated,
        integration_seconds=_age(node, integrated, now),
        projection_entries=appended - projected,
        projection_seconds=_age(node, projected, now),
    )


def unready(measured: Lags, limits: Limits) -> list[str]:
    """Why a node should take no traffic: an entry has waited too long for the log or for
    the read models (empty: ready)."""
    reasons = []
    if measured.integration_seconds > limits.ready_integration_seconds:
        reasons.append(f"an entry has waited {measured.integration_seconds:.0f} s for the log")
    if measured.projection_seconds > limits.ready_projection_seconds:
        reasons.append(
            f"an entry has waited {measured.projection_seconds:.0f} s for the read models"
        )
    return reasons
