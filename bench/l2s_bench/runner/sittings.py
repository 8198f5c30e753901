"""Which code made a run: each sitting of a run (one `l2s-bench run`/`evaluate` into its folder) records
its git state and package versions; these say whether a run mixes code versions or came from a dirty
tree, for `results.json` (`provenance.code`), the report and the gate. No torch here: `report` and
`check` read it."""

from __future__ import annotations

import json


def code_versions(sittings: list[dict]) -> dict:
    """Which code made a run's samples, from its sittings (each records its git state and package
    versions): `shas` (distinct commits, first-seen order), `mixed` (more than one commit, or package
    versions that differ), `dirty` (how many sittings ran from a tree with uncommitted changes),
    `unrecorded` (sittings from before each recorded its own, 2026-12-08: their code is unknown)."""
    known = [s for s in sittings if "git" in s]
    shas = list(dict.fromkeys(s["git"].get("sha") for s in known))
    packages = {json.dumps(s.get("packages"), sort_keys=True) for s in known}
    return {"sittings": len(sittings), "shas": shas, "mixed": len(shas) > 1 or len(packages) > 1,
            "dirty": sum(bool(s["git"].get("dirty")) for s in known), "unrecorded": len(sittings) - len(known)}


def describe_code(code: dict | None) -> str:
    """`code_versions` in words, for reports and the gate: one version, mixed versions, dirty trees."""
    if not code:
        return "not recorded per sitting (results from before 2026-12-08)"
    shas = [(s or "unknown")[:12] for s in code["shas"]]
    parts = [f"{code['sittings']} sitting{'s' if code['sittings'] != 1 else ''}"]
    if code["mixed"]:
        parts.append(f"MIXED code: {len(shas)} commits ({', '.join(shas)})" if len(shas) > 1 else
                     f"MIXED package versions at {shas[0]}")
    elif shas:
        parts.append(f"one commit ({shas[0]})")
    if code["dirty"]:
        parts.append(f"{code['dirty']} from a DIRTY tree")
    if code["unrecorded"]:
        parts.append(f"{code['unrecorded']} with no code recorded (before 2026-12-08)")
    return "; ".join(parts)
