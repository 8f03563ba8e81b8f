"""Bucket assignment (image.buckets): the bound on a layer's size and the stability of the layout,
checked over many random names at every N the issue names, cold and from a previous assignment."""

import random

import pytest

from shimimg.image import buckets


def _names(rnd: random.Random, n: int) -> set[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("bin/" + "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz_-0123456789", k=rnd.randint(3, 24))))
    return out


def _layers(assignment: dict) -> set[frozenset]:
    return {frozenset(g) for g in buckets.groups(assignment)}


def _largest(assignment: dict) -> int:
    return max(len(g) for g in buckets.groups(assignment))


def test_bound_is_ceil_n_over_100():
    assert [buckets.bound(n) for n in (0, 1, 100, 101, 200, 201, 300)] == [1, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("seed", range(3))
def test_cold_layout_holds_the_bound_and_uses_every_bucket_at_every_n(seed):
    rnd = random.Random(seed)
    for n in range(1, 301):
        a = buckets.assign(_names(rnd, n))
        assert _largest(a) <= buckets.bound(n), n
        assert len(buckets.groups(a)) == min(n, buckets.MAX_BINARY_LAYERS), n
        # Levelled: no layer holds two more than another.
        sizes = [len(g) for g in buckets.groups(a)]
        assert max(sizes) - min(sizes) <= 1, n


def test_a_plain_hash_into_100_buckets_would_break_the_bound():
    """Why not hash alone: at 101..300 names the fullest hash bucket exceeds ceil(N/100) nearly always."""
    rnd = random.Random(1)
    over = 0
    for n in range(101, 301):
        loads: dict[int, int] = {}
        for name in _names(rnd, n):
            loads[buckets._home(name, 100)] = loads.get(buckets._home(name, 100), 0) + 1
        over += max(loads.values()) > buckets.bound(n)
    assert over > 190


@pytest.mark.parametrize("n", [100, 101, 130, 199, 200, 201, 250, 300])
def test_adding_one_name_to_a_previous_layout_recreates_exactly_one_layer(n):
    rnd = random.Random(n)
    for _ in range(20):
        names = _names(rnd, n)
        before = buckets.assign(names)
        new = next(iter(_names(rnd, 1) - names))
        after = buckets.assign(names | {new}, before)
        assert len(_layers(after) - _layers(before)) == 1
        assert all(after[x] == before[x] for x in names)
        assert _largest(after) <= buckets.bound(n + 1)


def test_random_adds_and_removes_keep_the_bound_and_move_one_layer_unless_the_bound_falls():
    rnd = random.Random(22)
    crossings = []
    for _ in range(15):
        names = _names(rnd, rnd.randint(90, 290))
        a = buckets.assign(names)
        for _ in range(200):
            if rnd.random() < 0.5:
                new = names | (_names(rnd, 1) - names)
            else:
                new = names - {rnd.choice(sorted(names))}
            b = buckets.assign(new, a)
            recreated = len(_layers(b) - _layers(a))
            assert _largest(b) <= buckets.bound(len(new))
            if buckets.bound(len(new)) < buckets.bound(len(names)):
                crossings.append(recreated)  # N fell to a multiple of 100: over-full layers shed
            else:
                assert recreated <= 1
            names, a = new, b
    assert crossings, "the walk crossed a multiple of 100 downwards"


def test_removing_across_a_multiple_of_100_after_only_additions_moves_at_most_two_layers():
    rnd = random.Random(5)
    for _ in range(20):
        names = _names(rnd, 201)
        a = buckets.assign(names)
        b = buckets.assign(names - {rnd.choice(sorted(names))}, a)
        assert _largest(b) <= 2
        assert len(_layers(b) - _layers(a)) <= 2


def test_same_inputs_same_layout_whatever_their_order():
    rnd = random.Random(3)
    names = sorted(_names(rnd, 170))
    prev = buckets.assign(names[:150])
    assert buckets.assign(names, prev) == buckets.assign(list(reversed(names)), dict(reversed(prev.items())))
    assert buckets.assign(names) == buckets.assign(set(names))


def test_a_content_change_keeps_the_layout_cold_too():
    """The layout depends on the names only: a runner without the cache lays out the same image."""
    names = _names(random.Random(4), 130)
    assert buckets.assign(names) == buckets.assign(set(names))
    assert buckets.assign(names, buckets.assign(names)) == buckets.assign(names)


@pytest.mark.parametrize("record", [
    None, [], "x", {"format": 2, "buckets": 100, "assignment": {}},
    {"format": 1, "buckets": 50, "assignment": {}},
    {"format": 1, "buckets": 100, "assignment": []},
    {"format": 1, "buckets": 100, "assignment": {"bin/a": 100}},
    {"format": 1, "buckets": 100, "assignment": {"bin/a": -1}},
    {"format": 1, "buckets": 100, "assignment": {"bin/a": "3"}},
    {"format": 1, "buckets": 100, "assignment": {"bin/a": True}},
    {"format": 1, "buckets": 100, "assignment": {"bin/a": 1.0}},
])
def test_a_record_of_another_shape_is_not_used(record):
    assert buckets.parse(record) is None


def test_a_record_round_trips():
    a = buckets.assign(_names(random.Random(6), 120))
    assert buckets.parse(buckets.record(a)) == a


def test_a_tampered_record_cannot_break_the_bound():
    """A record putting every name in one bucket (a cache someone else wrote) still gives a layout
    within the bound: the over-full bucket sheds."""
    names = _names(random.Random(8), 150)
    a = buckets.assign(names, buckets.parse(buckets.record({x: 7 for x in names})))
    assert _largest(a) <= 2
    assert set(a) == names


def test_the_cache_keeps_the_record_and_a_cache_inside_the_checkout_gives_none(tmp_path):
    from shimimg.cache import Store

    store = Store(tmp_path / "cache", tmp_path / "project")
    assert store.layout("pkg") is None
    store.put_layout("pkg", buckets.record({"bin/a": 3}))
    assert buckets.parse(store.layout("pkg")) == {"bin/a": 3}
    (store.project / "images" / "pkg.layout.json").write_text("{not json")
    assert store.layout("pkg") is None
    (tmp_path / "project").mkdir()
    inside = Store(tmp_path / "project" / ".cache", tmp_path / "project", allow_in_checkout=True)
    inside.put_layout("pkg", buckets.record({"bin/a": 3}))
    assert inside.layout("pkg") is None
