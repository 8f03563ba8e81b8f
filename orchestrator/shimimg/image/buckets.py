"""Which binaries share a layer: at most ``MAX_BINARY_LAYERS`` layers of binaries, each holding at
most ceil(N / MAX_BINARY_LAYERS) of them, and a layout that moves as little as possible (issue 22).

A change to one handler re-creates (and a push uploads) the one layer that holds it, so the most a
change can cost is the largest layer: ceil(N/100) binaries. Up to 100 handlers that is one binary
each, the same layers as before buckets existed (a one-binary bucket stages exactly the old
per-binary folder). Above 100 binaries share.

Why stateful: no function of the set of names alone can be both balanced (every layer within
ceil(N/B)) and stable (adding a name changes one layer). With two buckets and names a, b, c, the
layouts of {a,b}, {a,c} and {b,c} are forced ({a}{b}, ...), and no layout of {a,b,c} is one
addition away from all three. A hash into B buckets is stable but unbalanced (130 names into 100
buckets: some bucket gets 4 or more); chunks of the sorted names are balanced but one insertion
shifts every chunk after it. So each build starts from the previous build's assignment (shimimg's
cache records it per package): names keep their bucket, a new name joins the least-loaded bucket,
and names move only when a bucket is over the bound (after removals that lowered it).

Without a previous assignment (a fresh machine, a CI runner without its cache, or a record that
does not verify) the same procedure runs from nothing, in an order fixed by the names' hashes:
the result is a function of the names only, so every cold runner agrees with every other, and a
content change of one handler, which keeps the names, still re-creates one layer.

Lambda's own limit on images is 10 GB uncompressed including all layers ("Container image code
package size", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); Lambda's
pages name no layer count, the engines that build and run images do: Docker's layer store chains
at most 125 (maxLayerDepth in https://github.com/moby/moby/blob/master/layer/layer_store.go:
"the 127 max in some graphdrivers plus the 2 additional layers used to create a rwlayer"), and
BuildKit calls 127 the historic limit (https://github.com/moby/buildkit/pull/4815). 100 binary
layers plus the shim's and the data files' leave the base 23.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

MAX_BINARY_LAYERS = 100
FORMAT = 1  # the recorded assignment's shape; a record of another shape is not used


def _rank(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def _home(name: str, buckets: int) -> int:
    return int.from_bytes(_rank(name)[:8], "big") % buckets


def bound(n: int, buckets: int = MAX_BINARY_LAYERS) -> int:
    """The most binaries any one layer holds at ``n`` binaries: ceil(n / buckets), at least 1."""
    return max(1, -(-n // buckets))


def assign(names: Collection[str], previous: Mapping[str, int] | None = None, *,
           buckets: int = MAX_BINARY_LAYERS) -> dict[str, int]:
    """Each name's bucket (0..buckets-1). ``previous``: the last build's assignment, verified
    (``parse``); names not in ``names`` are ignored. The same inputs always give the same result."""
    cap = bound(len(names), buckets)
    members: list[list[str]] = [[] for _ in range(buckets)]
    ordered = sorted(set(names), key=_rank)
    pool: list[str] = []
    for name in ordered:
        b = (previous or {}).get(name)
        if b is None:
            pool.append(name)
        else:
            members[b].append(name)  # in rank order: the same record gives the same lists
    for group in members:
        # Over the bound (names were removed, so it fell): the highest-ranked leave.
        if len(group) > cap:
            pool += group[cap:]
            del group[cap:]
    out = {name: b for b, group in enumerate(members) for name in group}
    for name in sorted(pool, key=_rank):
        home = _home(name, buckets)
        # The least-loaded bucket keeps every layer within the bound and, on a cold start, the
        # loads level (no layer above ceil(N/100) while another holds fewer than floor(N/100));
        # among equals the one nearest the name's hash spreads names without a shared order.
        b = min(range(buckets), key=lambda i: (len(members[i]), (i - home) % buckets))
        members[b].append(name)
        out[name] = b
    return out


def parse(record: object, *, buckets: int = MAX_BINARY_LAYERS) -> dict[str, int] | None:
    """A recorded assignment, checked: shimimg's cache is shared with whatever else writes that
    folder, so a record of another shape, bucket count or with a bucket out of range is not used
    at all (the build then starts cold, which is correct, only less stable)."""
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("buckets") != buckets:
        return None
    data = record.get("assignment")
    if not isinstance(data, dict):
        return None
    for name, b in data.items():
        if not isinstance(name, str) or type(b) is not int or not 0 <= b < buckets:
            return None
    return dict(data)


def record(assignment: Mapping[str, int], *, buckets: int = MAX_BINARY_LAYERS) -> dict:
    return {"format": FORMAT, "buckets": buckets, "assignment": dict(sorted(assignment.items()))}


def groups(assignment: Mapping[str, int]) -> list[list[str]]:
    """The non-empty buckets as sorted name lists, in the order of their first name (so up to 100
    binaries the layers come in name order, as they always did)."""
    by: dict[int, list[str]] = {}
    for name, b in assignment.items():
        by.setdefault(b, []).append(name)
    return sorted((sorted(g) for g in by.values()), key=lambda g: g[0])
