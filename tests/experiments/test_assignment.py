import random
import uuid
from collections import Counter

from promptlib.experiments.assignment import RenderRef, bucket, render_id_make, render_id_read, variant_pick

WEIGHTS = [("control", 50), ("b", 30), ("c", 20)]


def test_it_assigns_the_same_subject_to_the_same_variant_every_time():
    first = variant_pick(salt="s1", subject="user-42", weights=WEIGHTS)
    assert all(variant_pick(salt="s1", subject="user-42", weights=WEIGHTS) == first for _ in range(50))


def test_it_ignores_the_order_in_which_variants_are_given():
    subjects = [f"user-{i}" for i in range(500)]
    reordered = list(reversed(WEIGHTS))
    assert [variant_pick(salt="s", subject=s, weights=WEIGHTS) for s in subjects] == [
        variant_pick(salt="s", subject=s, weights=reordered) for s in subjects
    ]


def test_it_splits_100000_subjects_within_one_point_of_the_weights():
    rng = random.Random(20261121)
    subjects = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(100_000)]
    counts = Counter(variant_pick(salt="a1b2c3d4", subject=s, weights=WEIGHTS) for s in subjects)
    for key, weight in WEIGHTS:
        assert abs(counts[key] / 1000 - weight) <= 1.0, (key, counts[key])


def test_a_different_salt_reshuffles_subjects():
    subjects = [f"user-{i}" for i in range(1000)]
    same = sum(
        variant_pick(salt="one", subject=s, weights=[("a", 1), ("b", 1)])
        == variant_pick(salt="two", subject=s, weights=[("a", 1), ("b", 1)])
        for s in subjects
    )
    assert 400 < same < 600  # independent halves agree about half the time


def test_buckets_stay_in_range():
    assert all(0 <= bucket(salt="x", subject=str(i)) < 10_000 for i in range(2000))


def test_a_render_id_round_trips_its_reference():
    ref = RenderRef(project_id=3, experiment_id=7, variant="short", subject="user-1")
    assert render_id_read(token=render_id_make(ref=ref)) == ref


def test_a_tampered_render_id_is_refused():
    token = render_id_make(ref=RenderRef(project_id=3, experiment_id=7, variant="short", subject="user-1"))
    # Change the second-to-last character (comparing it, not its neighbour, so it always changes).
    assert render_id_read(token=token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) is None
    assert render_id_read(token="not-a-token") is None
