"""The build history `shimimg prune` works from, and what it plans to remove (issue 20)."""

from shimimg.cache import ImageState, Store
from shimimg.commands.prune import plan_removals


def state(tag: str) -> ImageState:
    return ImageState(key=tag, tag=tag, image_id=f"id-{tag}", digest="sha256:x")


def test_history_is_oldest_first_without_duplicates_and_state_updates_leave_it(tmp_path):
    store = Store(tmp_path / "cache", tmp_path / "project")
    for tag in ("shimimg/p:a", "shimimg/p:b", "shimimg/p:a"):
        store.put_image("p", state(tag), binaries=[f"k-{tag[-1]}"])
    store.put_image("p", state("shimimg/p:a"))  # e.g. recording that it was unpacked
    assert [e["tag"] for e in store.history("p")] == ["shimimg/p:b", "shimimg/p:a"]
    assert store.image("p").tag == "shimimg/p:a" and store.slugs() == ["p"]


def test_old_builds_go_but_a_binary_another_build_uses_stays(tmp_path):
    cache = tmp_path / "cache"
    here, other = Store(cache, tmp_path / "here"), Store(cache, tmp_path / "other")
    for key in ("shared", "old-only", "new"):
        entry = cache / "bin" / "arm64" / key[:2] / key
        entry.mkdir(parents=True)
        (entry / "binary").write_bytes(b"x")
    here.put_image("p", state("shimimg/p:1"), binaries=["shared", "old-only"])
    here.put_image("p", state("shimimg/p:2"), binaries=["new"])
    other.put_image("q", state("shimimg/q:1"), binaries=["shared"])
    planned = plan_removals(here, keep=1)
    assert [(r.kind, r.name) for r in planned] == [("image", "shimimg/p:1"), ("binary", "old-only")]
    assert plan_removals(here, keep=2) == []
