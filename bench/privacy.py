"""Privacy tools at tenant scale: export and erasure of a contact, a rep and a tenant, and a
retention run, on a seeded tenant (SQLite in a temporary instance, or ``--database-url``).

    .venv/bin/python bench/privacy.py [--calls 300] [--turns 40] [--reps 10] [--contacts 60]

Every call has turns, nudges, a report, a CRM-written outbox row with an attempt and a
64 KB recording file. Prints seconds per operation; last line: one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def seed(settings: Any, tenant: str, calls: int, turns: int, reps: int,
         contacts: int) -> None:
    from plugin.db import db
    from plugin.models import Call, Nudge, OutboxAttempt, OutboxItem, Recording, Report, Turn
    from plugin.pipeline.recordings import recordings_dir
    from plugin.tenancy import ensure_tenant, ensure_user

    folder = recordings_dir(settings, tenant)
    old = datetime.now(UTC) - timedelta(days=400)
    with db.session_scope() as s:
        ensure_tenant(s, tenant, "salesforce")
        users = [ensure_user(s, tenant, f"005R{i:03d}").id for i in range(reps)]
        for n in range(calls):
            created = old if n % 2 else datetime.now(UTC)
            call = Call(tenant_id=tenant, user_id=users[n % reps],
                        record_id=f"003C{n % contacts:04d}", status="analysed",
                        title=f"Call {n}", created_at=created)
            s.add(call)
            s.flush()
            s.add_all(Turn(tenant_id=tenant, call_id=call.id, seq=i, speaker="rep" if i % 2 else
                           "customer", text=f"line {i} of call {n} about budget and timing",
                           start_ms=i * 3000, end_ms=i * 3000 + 2500, created_at=created)
                      for i in range(1, turns + 1))
            s.add_all(Nudge(tenant_id=tenant, call_id=call.id, turn_seq=i, category="objection",
                            severity="warn", text="Ask what budget means", rule="price")
                      for i in range(1, 6))
            s.add(Report(tenant_id=tenant, call_id=call.id, version=1, created_at=created,
                         data={"summary": f"summary {n}", "scores": {"discovery": 60}}))
            path = folder / f"bench-{call.id}.wav"
            path.write_bytes(b"RIFF" + bytes(64 * 1024))
            s.add(Recording(tenant_id=tenant, call_id=call.id, user_id=call.user_id,
                            filename=path.name, path=str(path), status="done", size=65540,
                            created_at=created))
            item = OutboxItem(tenant_id=tenant, idempotency_key=f"bench:{call.id}",
                              call_id=call.id, crm="salesforce", status="done",
                              crm_id=f"00T{n:09d}", created_at=created,
                              payload={"record_id": call.record_id, "body_text": "notes"})
            s.add(item)
            s.flush()
            s.add(OutboxAttempt(tenant_id=tenant, outbox_id=item.id, outcome="ok"))


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return round(time.perf_counter() - t0, 3), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--contacts", type=int, default=60)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    from plugin import migrate
    from plugin.db import db
    from plugin.privacy import retention
    from plugin.privacy.erase import erase
    from plugin.privacy.export import export
    from plugin.privacy.selection import subject
    from plugin.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        settings = load_settings({"env": "test", "instance_path": instance,
                                  **({"database_url": args.database_url}
                                     if args.database_url else {})})
        migrate.upgrade(settings.database_url)
        db.configure(settings.database_url)
        tenant = "sf:00DBENCHPRIV"
        seed_s, _ = timed(lambda: seed(settings, tenant, args.calls, args.turns, args.reps,
                                       args.contacts))
        result: dict[str, Any] = {"calls": args.calls, "turns_per_call": args.turns,
                                  "seed_s": seed_s}

        def export_of(kind: str, value: str = "") -> dict[str, Any]:
            buf = io.BytesIO()
            manifest = export(subject(tenant, kind, value), instance, "bench", buf)
            return {"rows": sum(manifest["tables"].values()), "files": len(manifest["files"]),
                    "zip_bytes": buf.tell()}

        for name, kind, value in (("contact", "contact", "003C0001"), ("rep", "rep", "005R001"),
                                  ("tenant", "tenant", "")):
            secs, info = timed(lambda kind=kind, value=value: export_of(kind, value))
            result[f"export_{name}_s"] = secs
            result[f"export_{name}"] = info
        secs, out = timed(lambda: retention.enforce(tenant, instance))
        result["retention_s"], result["retention_counts"] = secs, out["counts"]
        secs, out = timed(lambda: retention.enforce(tenant, instance))
        result["retention_again_s"], result["retention_again_counts"] = secs, out["counts"]
        for name, kind, value in (("contact", "contact", "003C0002"), ("rep", "rep", "005R003"),
                                  ("tenant", "tenant", "")):
            secs, receipt = timed(lambda kind=kind, value=value: erase(
                subject(tenant, kind, value), instance, "bench"))
            result[f"erase_{name}_s"] = secs
            result[f"erase_{name}_rows"] = sum(receipt["counts"].values())
        for key, value in result.items():
            if key.endswith("_s"):
                print(f"{key:>22}: {value:.3f} s")
        db.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
