#!/usr/bin/env python3
"""Recomputes a lobby draw from what the platform publishes, independently of its code.

    scripts/verify_draw.py http://127.0.0.1:8000 evt_x            # the whole drawn order
    scripts/verify_draw.py http://127.0.0.1:8000 evt_x --token T  # where waiting token T was drawn
    scripts/verify_draw.py --self-test                            # this implementation vs. known answers

Reads `GET /api/v1/queue/draw?event_id=` page by page, checks that the revealed seed hashes to
the commitment published before the opening, and computes each lobby entry's drawn place from
the seed, the frozen lobby counts and its lobby order (docs/api.md, "The lobby draw"):

* rank(l)  = number of lobby orders taken before l = sum over counters s of how many of the
             orders s, s+S, s+2S, ... below l counter s reached (S = number of counters);
* place(r) = the `feistel-sha256-v1` permutation of r among 0..lobby_size.

Prints one JSON object: {"ok": true, "lobby_size", "places": {token_sha256: place (1-based)},
"stragglers": [...]}; exits 1 if the seed does not match its commitment. Python 3 standard
library only, so anyone can run it.
"""

import hashlib
import json
import sys
import urllib.parse
import urllib.request

ROUNDS = 8


def round_function(seed: bytes, rnd: int, right: int) -> int:
    digest = hashlib.sha256(seed + bytes([rnd]) + right.to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big")


def encrypt(seed: bytes, half: int, value: int) -> int:
    mask = (1 << half) - 1
    left, right = value >> half, value & mask
    for rnd in range(ROUNDS):
        left, right = right, left ^ (round_function(seed, rnd, right) & mask)
    return (left << half) | right


def permute(seed: bytes, size: int, rank: int) -> int:
    """The drawn place (0-based) of `rank` among 0..size."""
    assert 0 <= rank < size
    if size <= 1:
        return rank
    bits = (size - 1).bit_length()
    half = max(1, (bits + 1) // 2)
    value = encrypt(seed, half, rank)
    while value >= size:
        value = encrypt(seed, half, value)
    return value


def taken(counts, lobby_order: int) -> bool:
    shards = len(counts)
    return lobby_order // shards < counts[lobby_order % shards]


def rank(counts, lobby_order: int) -> int:
    """Lobby orders the counters took below `lobby_order`."""
    shards = len(counts)
    total = 0
    for shard, count in enumerate(counts):
        # Orders j*S + shard for j < count; those below lobby_order: j < ceil((l - shard) / S).
        below = -(-(lobby_order - shard) // shards) if lobby_order > shard else 0
        total += min(count, below)
    return total


def self_test() -> None:
    seed = bytes.fromhex("ab" * 32)
    assert hashlib.sha256(seed).hexdigest() == (
        "9a2db2e23f1504cd056606553ac049c5e718e8f9ce9233876df1a7a1821af885"
    )
    assert [permute(seed, 10, r) for r in range(10)] == [0, 1, 2, 5, 6, 7, 3, 4, 9, 8]
    assert permute(seed, 100_000, 12_345) == 46595
    assert sorted(permute(seed, 1000, r) for r in range(1000)) == list(range(1000))
    assert rank([3, 1], 4) == 3 and rank([3, 1], 0) == 0 and not taken([3, 1], 3)
    print("verify_draw self-test: ok")


def fetch(base: str, event_id: str):
    after = None
    first = None
    entries = []
    while True:
        query = {"event_id": event_id, "limit": "1000"}
        if after:
            query["after"] = after
        url = f"{base.rstrip('/')}/api/v1/queue/draw?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            page = json.load(answer)
        first = first or page
        entries.extend(page["entries"])
        after = page.get("next")
        if not after:
            return first, entries


def verify(base: str, event_id: str, token: str = None) -> int:
    draw, entries = fetch(base, event_id)
    if draw["status"] != "drawn":
        print(json.dumps({"ok": False, "status": draw["status"], "why": "not drawn yet"}))
        return 1
    if draw.get("algorithm") != "feistel-sha256-v1":
        print(json.dumps({"ok": False, "why": f"unknown algorithm {draw.get('algorithm')}"}))
        return 1
    seed = bytes.fromhex(draw["seed"])
    if hashlib.sha256(seed).hexdigest() != draw["seed_sha256"]:
        print(json.dumps({"ok": False, "why": "the seed does not match its commitment"}))
        return 1
    counts, size = draw["lobby_counts"], draw["lobby_size"]
    assert sum(counts) == size, "the lobby size is the sum of the frozen counts"
    places, stragglers = {}, []
    for entry in entries:
        lobby_order = entry["lobby_order"]
        if taken(counts, lobby_order):
            places[entry["token_sha256"]] = permute(seed, size, rank(counts, lobby_order)) + 1
        else:
            stragglers.append(entry["token_sha256"])
    result = {"ok": True, "lobby_size": size, "places": places, "stragglers": stragglers}
    if token:
        result["token_place"] = places.get(hashlib.sha256(token.encode()).hexdigest())
    print(json.dumps(result))
    return 0


def main(argv) -> int:
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) == 3:
        return verify(argv[1], argv[2])
    if len(argv) == 5 and argv[3] == "--token":
        return verify(argv[1], argv[2], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
