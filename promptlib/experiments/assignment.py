"""Sticky variant assignment without storage, and the signed render ids that remember it.

A subject's variant is a pure function of the experiment's salt and the subject: the sha256 of
"salt:subject" picks one of 10,000 buckets, and the buckets are split between the variants in
proportion to their weights. The same subject therefore always lands in the same variant while the
weights stay fixed (which is why weights cannot change once an experiment has started).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.core import signing

BUCKETS = 10_000
_RENDER_ID_SALT = "promptlib.render_id"


def bucket(*, salt: str, subject: str) -> int:
    digest = hashlib.sha256(f"{salt}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant_pick(*, salt: str, subject: str, weights: Sequence[tuple[str, int]]) -> str:
    """The key of the variant for this subject, given (key, weight) pairs with positive weights.

    Pairs are sorted by key so that the answer does not depend on the order they were loaded in.
    """
    ordered = sorted(weights)
    total = sum(weight for _, weight in ordered)
    if not ordered or total <= 0:
        raise ValueError("An assignment needs at least one variant with a positive weight.")
    position = bucket(salt=salt, subject=subject)
    cumulative = 0
    for key, weight in ordered:
        cumulative += weight
        # Integer form of position < BUCKETS * cumulative / total: no rounding drift.
        if position * total < BUCKETS * cumulative:
            return key
    return ordered[-1][0]


@dataclass(frozen=True)
class RenderRef:
    project_id: int
    experiment_id: int
    variant: str
    subject: str


def render_id_make(*, ref: RenderRef) -> str:
    """A tamper-proof token naming the experiment, variant and subject of a render; nothing is stored."""
    payload = [ref.project_id, ref.experiment_id, ref.variant, ref.subject]
    return signing.dumps(payload, salt=_RENDER_ID_SALT, compress=True)


def render_id_read(*, token: str) -> RenderRef | None:
    """The reference inside a render id, or None if it is not one we signed."""
    try:
        payload = signing.loads(token, salt=_RENDER_ID_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(payload, list) and len(payload) == 4):
        return None
    project_id, experiment_id, variant, subject = payload
    if not (isinstance(project_id, int) and isinstance(experiment_id, int)):
        return None
    if not (isinstance(variant, str) and isinstance(subject, str)):
        return None
    return RenderRef(project_id=project_id, experiment_id=experiment_id, variant=variant, subject=subject)
