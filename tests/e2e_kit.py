"""`Kit`: what the end-to-end and fault tests share (the `kit` fixture in conftest.py is one of these)."""

from __future__ import annotations

import asyncio
import json
import mailbox
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from e2e_client import BIN, BODY_A, BODY_B, BODY_C, INSPECTOR, Api, WaitTimeout
from e2e_load import Action, ActionLoad, summarise
from rectrack.common.auth import issue_user_token
from rectrack.common.launcher import LocalPlatform
from rectrack.common.settings import PlatformSettings

T = TypeVar("T")


class Kit:
    """What the end-to-end and fault tests share: tokens, clients, polling, streams, deliveries, mail."""

    BODY_A = BODY_A
    BODY_B = BODY_B
    BODY_C = BODY_C
    INSPECTOR = INSPECTOR
    BIN = BIN
    restart = staticmethod(LocalPlatform.restart)
    Action = Action
    ActionLoad = ActionLoad
    summarise = staticmethod(summarise)

    def __init__(self) -> None:
        self._clients: list[Api] = []

    # ---- principals -------------------------------------------------------------------------------
    @staticmethod
    def token(role: str, *, subject: str | None = None, body_id: str | None = None) -> str:
        """A bearer token the platform's gateway accepts (same default secrets as the launcher's env)."""
        subject = subject or (f"{body_id}-user" if role == "body" else f"e2e-{role}")
        return issue_user_token(PlatformSettings(), role=role, subject=subject, name=subject, body_id=body_id)

    def api(self, platform: LocalPlatform, role: str, *, subject: str | None = None,
            body_id: str | None = None) -> Api:
        """A public-API client for one principal (closed at the end of the module)."""
        client = Api(platform.gateway_url, self.token(role, subject=subject, body_id=body_id))
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every client made."""
        for client in self._clients:
            client.close()
        self._clients.clear()

    # ---- polling ----------------------------------------------------------------------------------
    @staticmethod
    def wait_until(probe: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.2,
                   what: str = "condition") -> T:
        """Call probe until it returns something truthy; fail with `what` after timeout."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = probe()
            if last:
                return last
            if time.monotonic() > deadline:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last: {str(last)[:300]})")
            time.sleep(interval)

    # ---- domain helpers ---------------------------------------------------------------------------
    @staticmethod
    def create_report(staff: Api, title: str = "PEEL 2025: end-to-end") -> dict[str, Any]:
        """A report to hang recommendations on."""
        response = staff.post("/reports", {"title": title, "kind": "peel", "level": "local",
                                           "published_on": date.today().isoformat(),
                                           "url": "https://hmicfrs.example.org/peel-2025"})
        assert response.status_code == 201, response.text
        return response.json()

    @staticmethod
    def recommendation_body(report_id: str, bodies: list[str], *, due_in_days: int = 60, owner: str = INSPECTOR,
                            reference: str | None = None, issue: bool = True) -> dict[str, Any]:
        """The JSON of POST /recommendations."""
        reference = reference or f"E2E-{uuid.uuid4().hex[:10].upper()}"
        return {
            "report_id": report_id, "kind": "recommendation", "reference": reference,
            "title": f"Improve the response to domestic abuse ({reference})",
            "text": "By the due date the force should make sure that every domestic abuse call is risk-assessed.",
            "themes": ["domestic-abuse"], "priority": "high",
            "benefits": "Victims are safeguarded sooner.", "risks": "Victims stay at risk.",
            "closure_criteria": "An audit of 100 calls shows a recorded risk assessment in each.",
            "due_date": (date.today() + timedelta(days=due_in_days)).isoformat(), "owner": owner,
            "recipient_body_ids": bodies, "issue": issue,
        }

    def issue(self, staff: Api, report_id: str, bodies: list[str], **kwargs: Any) -> list[dict[str, Any]]:
        """Create (and issue) one recommendation for the bodies; one item per body, in the bodies' order.

        Right after start the recommendations service may not have heard of the bodies yet (its read model is
        fed by body.* events): a 422 naming an unknown body is retried for a while.
        """
        payload = self.recommendation_body(report_id, bodies, **kwargs)
        deadline = time.monotonic() + 30
        while True:
            response = staff.post("/recommendations", payload)
            if response.status_code == 201:
                by_body = {item["body_id"]: item for item in response.json()["items"]}
                assert set(by_body) == set(bodies), response.text
                return [by_body[b] for b in bodies]
            unknown_body = response.status_code == 422 and "bod" in response.text.lower()
            if not unknown_body or time.monotonic() > deadline:
                raise AssertionError(f"POST /recommendations: {response.status_code} {response.text}")
            time.sleep(0.3)

    # ---- notifications ----------------------------------------------------------------------------
    @staticmethod
    def inbox(api: Api, **params: Any) -> list[dict[str, Any]]:
        """The caller's in-app notifications (first page, newest first)."""
        response = api.get("/notifications", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    @staticmethod
    def deliveries(staff: Api, **filters: Any) -> list[dict[str, Any]]:
        """The whole delivery log matching the filters."""
        return staff.all_items("/notifications/deliveries", filters)

    @staticmethod
    def mailbox_messages(platform: LocalPlatform) -> list[dict[str, str]]:
        """Every e-mail in the local mbox: To, Subject, Message-ID, X-Rectrack-Delivery."""
        path = platform.data_dir / "mail" / "outbox.mbox"
        if not path.exists():
            return []
        box = mailbox.mbox(str(path), create=False)
        try:
            return [{"to": str(m.get("To", "")), "subject": str(m.get("Subject", "")),
                     "message_id": str(m.get("Message-ID", "")), "delivery": str(m.get("X-Rectrack-Delivery", ""))}
                    for m in box]
        finally:
            box.close()

    # ---- the operator CLI -------------------------------------------------------------------------
    @staticmethod
    def rectrack(platform: LocalPlatform, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the `rectrack` CLI with the platform's environment."""
        return subprocess.run([str(BIN / "rectrack"), *args], env=platform.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    # ---- JetStream --------------------------------------------------------------------------------
    @staticmethod
    async def read_stream(nats_url: str | list[str], stream: str) -> list[dict[str, Any]]:
        """Every message of a stream, as parsed envelopes plus `_msg_id` (the Nats-Msg-Id header)."""
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        servers = nats_url if isinstance(nats_url, list) else [nats_url]
        nc = await nats.connect(servers=servers, connect_timeout=3, max_reconnect_attempts=5)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            total = info.state.messages
            if total == 0:
                return []
            subject = info.config.subjects[0] if info.config.subjects else ">"
            sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30))
            out: list[dict[str, Any]] = []
            while len(out) < total:
                batch = await sub.fetch(min(500, total - len(out)), timeout=5)
                for msg in batch:
                    envelope = json.loads(msg.data)
                    envelope["_msg_id"] = (msg.headers or {}).get("Nats-Msg-Id")
                    out.append(envelope)
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    def stream_events(self, platform: LocalPlatform, stream: str = "RECOMMENDATION") -> list[dict[str, Any]]:
        """read_stream from synchronous code."""
        assert platform.nats is not None
        return asyncio.run(self.read_stream(platform.nats.url, stream))


    # ---- load and its verification (fault tests) -------------------------------------------------
    def police_forces(self, platform: LocalPlatform, count: int) -> list[str]:
        """The first `count` demo police forces."""
        admin = self.api(platform, "admin")
        items = admin.get("/bodies", params={"kind": "police_force", "limit": 100}).json()["items"]
        return sorted(b["id"] for b in items)[:count]

    def seed_started(self, platform: LocalPlatform, report_id: str, bodies: list[str], groups: int,
                     due_in_days: int = 10) -> list[dict[str, Any]]:
        """`groups` recommendations, each issued to every body and started by it (so it takes progress)."""
        staff = self.api(platform, "inspector", subject=INSPECTOR)
        clients = {b: self.api(platform, "body", body_id=b) for b in bodies}
        recs = []
        for _ in range(groups):
            recs += self.issue(staff, report_id, bodies, due_in_days=due_in_days)
        for rec in recs:
            started = clients[rec["body_id"]].transition(rec["id"], "start")
            assert started.status_code == 200, started.text
        return recs

    def mixed_actions(self, recs: list[dict[str, Any]], report_id: str, bodies: list[str], total: int,
                      create_share: float = 0.15, due_in_days: int = 10, seed: int = 7) -> list[Action]:
        """Progress posts from each recommendation's body, and new recommendations issued by staff."""
        import random

        rnd = random.Random(seed)
        staff_token = self.token("inspector", subject=INSPECTOR)
        body_tokens = {b: self.token("body", body_id=b) for b in bodies}
        actions = []
        for n in range(total):
            if rnd.random() < create_share:
                body = rnd.choice(bodies)
                payload = self.recommendation_body(report_id, [body], due_in_days=due_in_days,
                                                   reference=f"LOAD-{n:05d}-{uuid.uuid4().hex[:6]}")
                actions.append(Action("create", "/recommendations", payload, staff_token, meta={"body": body}))
            else:
                rec = rnd.choice(recs)
                narrative = f"load action {n} {uuid.uuid4().hex}"
                actions.append(Action("progress", f"/recommendations/{rec['id']}/progress",
                                      {"narrative": narrative, "rag": rnd.choice(["red", "amber", "green"])},
                                      body_tokens[rec["body_id"]], meta={"rec": rec["id"], "narrative": narrative}))
        return actions

    @staticmethod
    def event_key(envelope: dict[str, Any]) -> tuple[str, str] | None:
        """What an event is about, as (type, id) matched against accepted actions."""
        data = envelope.get("data") or {}
        if envelope["type"] == "recommendation.progress_added":
            return envelope["type"], str(data.get("progress_id"))
        if envelope["type"] == "recommendation.issued":
            return envelope["type"], str((data.get("recommendation") or {}).get("id"))
        return None

    @staticmethod
    def expected_event_keys(actions: list[Action]) -> set[tuple[str, str]]:
        """The event every accepted action must have published."""
        keys: set[tuple[str, str]] = set()
        for action in actions:
            if action.outcome != "accepted":
                continue
            if action.kind == "progress":
                keys.add(("recommendation.progress_added", str(action.response["id"])))
            else:
                keys |= {("recommendation.issued", str(item["id"])) for item in action.response["items"]}
        return keys

    def wait_for_events(self, platform: LocalPlatform, expected: set[tuple[str, str]],
                        timeout: float = 60.0) -> list[dict[str, Any]]:
        """The RECOMMENDATION stream once every expected event is in it."""
        def probe() -> list[dict[str, Any]] | None:
            events = self.stream_events(platform)
            seen = {self.event_key(e) for e in events}
            return events if expected <= seen else None
        try:
            return self.wait_until(probe, timeout=timeout, interval=1.0, what="every accepted action's event")
        except WaitTimeout:
            seen = {self.event_key(e) for e in self.stream_events(platform)}
            missing = sorted(expected - seen)
            raise AssertionError(f"{len(missing)} events never published, e.g. {missing[:5]}") from None

    @staticmethod
    def assert_published_once(events: list[dict[str, Any]]) -> None:
        """Each event id once in the stream, under its own Nats-Msg-Id; each escalation level once per due date."""
        counts = Counter(e["id"] for e in events)
        assert not [i for i, c in counts.items() if c != 1], "events published more than once"
        assert all(e["_msg_id"] == e["id"] for e in events)
        levels = Counter((e["subject"], e["data"].get("level"), e["data"].get("due_date"))
                         for e in events if e["type"] == "recommendation.escalated")
        assert not [k for k, c in levels.items() if c != 1], f"an escalation level fired twice: {levels}"

    def assert_stored(self, platform: LocalPlatform, actions: list[Action]) -> None:
        """Every accepted action is there exactly once, read back through the API; nothing unasked-for is."""
        staff = self.api(platform, "inspector", subject=INSPECTOR)
        by_rec: dict[str, list[Action]] = {}
        for action in actions:
            if action.kind == "progress":
                by_rec.setdefault(action.meta["rec"], []).append(action)
        for rec_id, posted in by_rec.items():
            response = staff.get(f"/recommendations/{rec_id}/progress")
            assert response.status_code == 200, response.text
            narratives = Counter(p["narrative"] for p in response.json()["items"])
            for action in posted:
                count = narratives.get(action.meta["narrative"], 0)
                if action.outcome == "accepted":
                    assert count == 1, f"accepted progress stored {count} times: {action.meta}"
                else:
                    assert count <= 1, f"unanswered progress stored {count} times: {action.meta}"
            known = {a.meta["narrative"] for a in posted}
            assert all(n in known for n in narratives if n.startswith("load action")), "progress nobody posted"
        for action in actions:
            if action.kind == "create" and action.outcome == "accepted":
                for item in action.response["items"]:
                    got = staff.get(f"/recommendations/{item['id']}")
                    assert got.status_code == 200, got.text
                    assert got.json()["reference"] == action.body["reference"]

    def wait_for_notifications(self, platform: LocalPlatform, events: list[dict[str, Any]],
                               timeout: float = 90.0) -> list[dict[str, Any]]:
        """Every issued / escalated event told the body's liaison (e-mail) and inbox: once each, delivered."""
        wanted: set[tuple[str, str, str]] = set()
        for envelope in events:
            told = envelope["type"] == "recommendation.issued" or (
                envelope["type"] == "recommendation.escalated" and envelope["data"].get("level") != "none")
            if told:
                body = envelope["data"]["recommendation"]["body_id"]
                wanted.add((envelope["id"], "email", f"liaison@{body}.example.org"))
                wanted.add((envelope["id"], "inbox", f"body:{body}"))
        admin = self.api(platform, "admin")
        state: dict[str, Any] = {}

        def probe() -> list[dict[str, Any]] | None:
            log = self.deliveries(admin)
            done = {(d["event_id"], d["channel"], d["recipient"]) for d in log if d["status"] == "delivered"}
            state["missing"] = wanted - done
            return log if not state["missing"] else None
        try:
            log = self.wait_until(probe, timeout=timeout, interval=1.0, what="every notification delivered")
        except WaitTimeout:
            missing = sorted(state.get("missing", ()))
            raise AssertionError(f"{len(missing)} notifications never delivered, e.g. {missing[:5]}") from None
        keys = Counter((d["event_id"], d["channel"], d["recipient"]) for d in log)
        assert not [k for k, c in keys.items() if c != 1], "a notification was logged twice"
        event_ids = {e["id"] for e in self.stream_events(platform)}  # read after the log: holds all it names
        assert all(d["event_id"] in event_ids for d in log if d["event_type"].startswith("recommendation."))
        # The mailbox holds each e-mail once; a second copy is acceptable only where the log shows the
        # delivery was attempted again (its sender died between handing the mail over and recording it).
        email = {d["id"]: d for d in log if d["channel"] == "email"}
        copies = Counter(m["delivery"] for m in self.mailbox_messages(platform) if m["delivery"] in email)
        for delivery_id, delivery in email.items():
            if delivery["status"] != "delivered":
                continue
            assert copies[delivery_id] >= 1, f"delivered e-mail not in the mailbox: {delivery}"
            assert copies[delivery_id] == 1 or delivery["attempts"] > 1, f"e-mail sent twice: {delivery}"
        return log
