"""Webhooks (issue 21, docs/events.md): a real registry-server POSTs its log entries to a real receiver.

The receiver is an `http.server` on 127.0.0.1 in a thread that records every request. What it gets is
checked with independent readers: the PyPI `standardwebhooks` library verifies each signature, the
events are compared with the pull feed (`GET /v1/events`: the log itself), and OpenLineage events are
validated against the committed schemas (schemas/openlineage/validate.py: `jsonschema` over the local
files, no network) and rebuilt with `openlineage-python`'s own classes.

Each test runs its own server (`--webhooks-allow-private` for the loopback receiver, short retry and
poll periods) and never sleeps-then-asserts: it waits on a condition with a deadline. Each takes about a
second, except the crash test: a restarted server delivers only once the dead process's lease on the
subscription has expired, at least 60 s later (deliver.rs `lease_ms`).
"""
import hashlib
import http.server
import importlib.util
import json
import os
import threading
import time
import uuid
from collections import defaultdict

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import openlineage.client  # noqa: F401  (validate.py skips the client check when it does not import)
from conftest import REPO, free_port, running_registry

FAST = ("--webhooks-allow-private", "--webhook-retry-ms", "20", "--webhook-poll-ms", "20", "--webhook-timeout", "5")
CLOUDEVENTS = "application/cloudevents+json; charset=utf-8"
# docs/events.md "Who sees what": the entries tied to one model (CloudEvents `subject` present)
MODEL_TYPES = {"model.created", "version.created", "attestation.added", "alias.moved", "alias.denied",
               "version.quarantined", "version.corrupted", "version.released", "version.cleared",
               "annotation.set", "annotation.removed"}
# registry_core::openlineage::RUN_ID_NAMESPACE, derived independently
RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://registry.dev/openlineage/run-id")


def _load_openlineage_checks():
    spec = importlib.util.spec_from_file_location("openlineage_validate", REPO / "schemas" / "openlineage" / "validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


OL = _load_openlineage_checks()


# ---- the receiver ---------------------------------------------------------------------------------

class Delivery:
    __slots__ = ("id", "headers", "body", "status")

    def __repr__(self):
        return f"{self.id} -> {self.status}"


class Receiver:
    """A webhook endpoint on 127.0.0.1 (`port` 0: any free one) recording every POST in `deliveries`
    and answering `status`. `hold(pred)`: the first request matching `pred` is recorded with status
    "held" and left unanswered until `release()`, then its connection is closed without an answer."""

    def __init__(self, port=0, status=204):
        self.port, self.status = port, status
        self.deliveries = []
        self.cond = threading.Condition()
        self._hold, self._release = None, threading.Event()
        self.server = None

    def start(self):
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                d = Delivery()
                d.headers = {k.lower(): v for k, v in self.headers.items()}
                d.id = d.headers.get("webhook-id")
                d.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recv.cond:
                    held = recv._hold is not None and recv._hold(d)
                    if held:
                        recv._hold = None
                    d.status = "held" if held else recv.status
                    recv.deliveries.append(d)
                    recv.cond.notify_all()
                if held:
                    recv._release.wait(300)
                    self.close_connection = True
                    return
                self.send_response(d.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/registry"

    def hold(self, pred):
        self._hold = pred

    def release(self):
        self._release.set()

    def close(self):
        self.release()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def accepted(self):
        with self.cond:
            return [d for d in self.deliveries if isinstance(d.status, int) and 200 <= d.status < 300]

    def wait(self, pred, timeout, what, reg=None, wid=None):
        """Waits until pred(self) holds; fails with what was received (and the subscription's state)."""
        with self.cond:
            if self.cond.wait_for(lambda: pred(self), timeout):
                return
            got = list(self.deliveries)
        state = webhook(reg, wid) if reg and wid else None
        pytest.fail(f"no {what} within {timeout} s; received {got}; subscription {state}")


@pytest.fixture
def receiver():
    made = []

    def make(port=0, status=204, start=True):
        r = Receiver(port, status)
        made.append(r)
        return r.start() if start else r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def hooked(tmp_path):
    """A registry-server that may deliver to loopback, retrying and polling every 20 ms."""
    with running_registry(tmp_path, *FAST) as reg:
        yield reg


# ---- registry helpers -----------------------------------------------------------------------------

def subscribe(reg, url, namespace="*", events=("*",), fmt=None):
    body = {"url": url, "namespace": namespace, "events": list(events)}
    if fmt:
        body["format"] = fmt
    st, _, out = reg.http("POST", "/v1/webhooks", body, token=reg.admin_token)
    assert st == 201, (st, out)
    created = json.loads(out)
    assert created["id"].startswith("webhook-") and created["secret"].startswith("whsec_"), created
    return created


def webhook(reg, wid):
    st, _, out = reg.http("GET", f"/v1/webhooks/{wid}", token=reg.admin_token)
    assert st == 200, (st, out)
    return json.loads(out)


def log_after(reg, after):
    """{index: entry} of every log entry after `after`, from the pull feed."""
    out = {}
    while True:
        st, _, body = reg.http("GET", f"/v1/events?after={after}&limit=1000", token=reg.admin_token)
        assert st == 200, (st, body)
        page = json.loads(body)
        out.update({e["index"]: json.loads(e["body"]) for e in page["events"]})
        if page["next_after"] == after:
            return out
        after = page["next_after"]


def push(reg, model, version, *flags):
    d = reg.work / "models" / f"{model.replace('/', '_')}-{version}"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model": model, "version": version}))
    (d / "weights.bin").write_bytes(os.urandom(256))
    reg.cli("push", d, "--model", model, "--version", version, *flags)


def verified(secret, d):
    """The delivery's JSON body, after its Standard Webhooks signature verified (raises otherwise)."""
    return Webhook(secret).verify(d.body, d.headers)


def poll_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s (last: {v!r})")
        time.sleep(0.02)


def settled(reg, wid, n):
    """The subscription's state once it counts `n` deliveries (the server records one after its 2xx)."""
    return poll_until(lambda: (s := webhook(reg, wid))["delivered"] >= n and s, 10, f"{wid} counting {n} deliveries")


def has_all(expected):
    return lambda r: {d.id for d in r.accepted()} >= set(expected)


def ids(entries):
    return [f"log-{i}" for i in sorted(entries)]


# ---- 1. a scripted session, in log order, each signature verified --------------------------------

def test_webhooks_deliver_every_event_in_log_order_signed(hooked, receiver):
    reg, recv = hooked, receiver()
    sub = subscribe(reg, recv.url)
    push(reg, "acme/bert", "1.0")
    push(reg, "acme/bert", "2.0")
    reg.cli("promote", "acme/bert@2.0", "--to", "production", "--reason", "webhook test")
    reg.cli("keygen", "--out", reg.work / "signer")  # an entry tied to no model: key.trusted
    reg.cli("keys", "add", "--namespace", "acme/*", "--public-key", reg.work / "signer.pub")

    entries = log_after(reg, sub["log_cursor"])  # everything after the subscription's own entry
    kinds = [e["type"] for _, e in sorted(entries.items())]
    for k in ("model.created", "version.created", "attestation.added", "alias.moved"):
        assert k in kinds, kinds
    assert any(k not in MODEL_TYPES for k in kinds), kinds
    expected = ids(entries)
    recv.wait(has_all(expected), 30, "delivery of the session", reg, sub["id"])

    got = recv.accepted()
    assert [d.id for d in got] == expected  # log order, once each
    for d in got:
        idx = int(d.id.removeprefix("log-"))
        entry = entries[idx]
        ev = verified(sub["secret"], d)
        assert ev == json.loads(d.body)
        assert d.headers["content-type"] == CLOUDEVENTS
        assert ev["specversion"] == "1.0"
        assert ev["id"] == d.headers["webhook-id"] == f"log-{idx}"
        assert ev["type"] == f"dev.registry.{entry['type']}"
        assert ev["source"].endswith("/v1/log")
        assert ev["time"] == entry["time"]
        assert ev["datacontenttype"] == "application/json"
        data = ev["data"]
        assert data["index"] == idx and data["entry"] == entry and data["actor"] == entry["actor"]
        if entry["type"] in MODEL_TYPES:
            assert ev["subject"] == entry["subject"]
            assert data["model"] == entry["subject"].split("@")[0]
        else:
            assert "subject" not in ev, ev
        if entry["type"] == "alias.moved":
            assert (data["alias"], data["decision"], data["version"]) == ("production", "allowed", "2.0")

    # The check is real: a changed byte, or the same body under another id, fails.
    d = got[-1]
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(d.body.replace(b'"index":', b'"index": '), d.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(d.body, {**d.headers, "webhook-id": got[0].id})

    st = settled(reg, sub["id"], len(expected))
    assert (st["delivered"], st["log_cursor"], st["attempts"], st["last_error"]) == \
        (len(expected), max(entries), 0, None), st
    # The URL is never answered, logged or written to the log: only its SHA-256 is.
    added = log_after(reg, sub["log_cursor"] - 1)[sub["log_cursor"]]
    assert added["type"] == "webhook.added" and added["subject"] == sub["id"]
    assert added["url_hash"] == sub["url_hash"] == "sha256:" + hashlib.sha256(recv.url.encode()).hexdigest()
    _, _, listing = reg.http("GET", "/v1/webhooks", token=reg.admin_token)
    for text in (listing.decode(), json.dumps(entries), reg.server_log()):
        assert f"127.0.0.1:{recv.port}" not in text


# ---- 2. the receiver down (port closed, then 503), then up ----------------------------------------

def test_webhooks_survive_a_receiver_that_is_down(hooked, receiver):
    reg = hooked
    recv = receiver(port=free_port(), status=503, start=False)  # nothing listens there yet
    sub = subscribe(reg, recv.url)
    push(reg, "down/bert", "1.0")
    push(reg, "down/bert", "2.0")
    reg.cli("promote", "down/bert@2.0", "--to", "production")

    failing = poll_until(lambda: (s := webhook(reg, sub["id"]))["attempts"] >= 2 and s, 20,
                         "retries while the port is closed")
    assert failing["delivered"] == 0 and failing["next_attempt_at"] and failing["last_error"], failing
    assert "127.0.0.1" not in failing["last_error"], failing  # errors never carry the URL

    recv.start()  # up, but answering 503
    recv.wait(lambda r: len(r.deliveries) >= 2, 20, "retries answered 503", reg, sub["id"])
    assert "503" in webhook(reg, sub["id"])["last_error"]
    recv.status = 204

    entries = log_after(reg, sub["log_cursor"])
    expected = ids(entries)
    recv.wait(has_all(expected), 30, "delivery after the receiver came back", reg, sub["id"])
    with recv.cond:
        tried = list(recv.deliveries)
    assert [d.id for d in recv.accepted()] == expected
    order = [int(d.id.removeprefix("log-")) for d in tried]
    assert order == sorted(order), tried  # nothing later was tried before an earlier event got through
    assert {d.id for d in tried if d.status == 503} == {expected[0]}, tried
    for d in recv.accepted():
        verified(sub["secret"], d)
    st = settled(reg, sub["id"], len(expected))
    assert (st["delivered"], st["attempts"], st["last_error"], st["next_attempt_at"]) == \
        (len(expected), 0, None, None), st


# ---- 3. the server SIGKILLed mid-delivery, restarted on the same data dir -------------------------

def test_webhooks_survive_a_server_killed_mid_delivery(tmp_path, receiver):
    recv = receiver()
    # Held: the promotion's alias entry, which its signed decision's attestation entry (same
    # transaction) just preceded, so that one was delivered well within the cursor's 100 ms commit period.
    recv.hold(lambda d: json.loads(d.body)["type"] == "dev.registry.alias.moved")
    with running_registry(tmp_path, *FAST) as reg:
        sub = subscribe(reg, recv.url)
        push(reg, "crash/bert", "1.0")
        push(reg, "crash/bert", "2.0")
        reg.cli("promote", "crash/bert@1.0", "--to", "production")
        recv.wait(lambda r: any(d.status == "held" for d in r.deliveries), 30, "the delivery to hold", reg, sub["id"])
        [held] = [d for d in recv.deliveries if d.status == "held"]
        # What was delivered before it is committed while the request hangs (within 100 ms), so the
        # kill resends the held event only. Looked for well before the request's 5 s timeout, which
        # would commit it too (as the failure is recorded).
        before = int(held.id.removeprefix("log-")) - 1
        poll_until(lambda: webhook(reg, sub["id"])["log_cursor"] == before, 2.5, f"the cursor at {before}")
        reg.proc.kill()  # SIGKILL while the receiver holds the request
        reg.proc.wait()
    recv.release()  # its connection closes unanswered

    with running_registry(tmp_path, *FAST) as reg:
        push(reg, "crash/bert", "3.0")
        entries = log_after(reg, sub["log_cursor"])
        expected = ids(entries)
        # A restarted server waits for the dead process's lease to expire (at least 60 s,
        # deliver.rs lease_ms) before it delivers this subscription again.
        recv.wait(has_all(expected), 150, "delivery after the restart", reg, sub["id"])
        st = settled(reg, sub["id"], len(expected))
    with recv.cond:
        got = list(recv.deliveries)

    by_id = defaultdict(list)
    for d in got:
        by_id[d.id].append(d)
    assert list(by_id) == expected, got  # first arrivals in log order, none lost
    assert len(by_id[held.id]) >= 2, got  # the unanswered one was sent again
    assert {i for i, ds in by_id.items() if len(ds) > 1} == {held.id}, got  # only it
    for ds in by_id.values():
        assert len({d.body for d in ds}) == 1, ds  # a resend is the same event under the same id
        for d in ds:
            assert json.loads(d.body)["id"] == d.id
            verified(sub["secret"], d)
    assert len({d.body for d in got}) == len(by_id)  # no event under two ids
    assert st["delivered"] == len(expected) and st["attempts"] == 0, st


# ---- 4. OpenLineage RunEvents --------------------------------------------------------------------

def test_webhooks_send_openlineage_run_events(hooked, receiver):
    reg, recv = hooked, receiver()
    sub = subscribe(reg, recv.url, namespace="lineage/*", events=["version.created"], fmt="openlineage")
    data_digest = "sha256:" + hashlib.sha256(b"training set").hexdigest()
    commit = hashlib.sha1(b"commit").hexdigest()
    push(reg, "lineage/bert", "1.0", "--dataset", f"s3://corpora/wiki/2026.parquet={data_digest}",
         "--repo", "https://github.com/acme/bert", "--commit", commit, "--run-id", "run-7",
         "--builder", "https://ci.example.com", "--param", "lr=0.001", "--metric", "f1=0.9")
    push(reg, "lineage/bert", "2.0", "--parent", "lineage/bert@1.0")
    reg.cli("promote", "lineage/bert@2.0", "--to", "production")  # not a version creation: nothing sent
    push(reg, "other/bert", "1.0")  # outside the subscription's namespace

    entries = {i: e for i, e in log_after(reg, sub["log_cursor"]).items()
               if e["type"] == "version.created" and e["subject"].startswith("lineage/")}
    expected = ids(entries)
    assert len(expected) == 2
    recv.wait(has_all(expected), 30, "the RunEvents", reg, sub["id"])
    # other/bert@1.0 is last in the log: once the cursor is past it, nothing more is coming
    last = max(log_after(reg, max(entries)))
    poll_until(lambda: webhook(reg, sub["id"])["log_cursor"] >= last, 10, "the cursor past the log's end")
    got = recv.accepted()
    assert [d.id for d in got] == expected

    events = {}
    for d in got:
        entry = entries[int(d.id.removeprefix("log-"))]
        assert d.headers["content-type"] == "application/json"
        ev = verified(sub["secret"], d)
        events[entry["subject"]] = ev
        assert OL.schema_errors(ev) == [], entry["subject"]
        assert OL.client_errors(ev) == [], entry["subject"]
        assert ev["eventType"] == "COMPLETE" and ev["eventTime"] == entry["time"]
        assert ev["run"]["runId"] == str(uuid.uuid5(RUN_ID_NAMESPACE, entry["subject"]))
        assert ev["job"]["name"] == "lineage/bert"
        [out] = ev["outputs"]
        assert out["name"] == entry["subject"] and out["namespace"].startswith("registry://")
        assert out["facets"]["version"]["datasetVersion"] == entry["manifest_digest"]
        assert out["facets"]["registry_model_version"]["manifestDigest"] == entry["manifest_digest"]
        assert out["facets"]["registry_model_version"]["omsRootDigest"] == entry["oms_root_digest"]

    first, second = events["lineage/bert@1.0"], events["lineage/bert@2.0"]
    assert first["job"]["namespace"] == "https://ci.example.com"
    code = first["job"]["facets"]["sourceCodeLocation"]
    assert (code["type"], code["url"], code["version"]) == ("git", "https://github.com/acme/bert", commit)
    [ds] = first["inputs"]  # OpenLineage naming: s3://bucket/key is namespace s3://bucket, name key
    assert (ds["namespace"], ds["name"]) == ("s3://corpora", "wiki/2026.parquet")
    assert ds["facets"]["version"]["datasetVersion"] == data_digest
    assert ds["facets"]["registry_dataset"]["role"] == "train"
    [parent] = second["inputs"]
    assert (parent["namespace"], parent["name"]) == (second["outputs"][0]["namespace"], "lineage/bert@1.0")

    # The schema check is real, formats included.
    for path, bad in ((("eventType",), "FINISHED"), (("run", "runId"), "run-7"), (("eventTime",), "yesterday"),
                      (("outputs", 0, "facets", "version", "_schemaURL"), "https://example.com/nope.json")):
        broken = json.loads(json.dumps(first))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert OL.schema_errors(broken), path


# ---- 5. SSRF ---------------------------------------------------------------------------------------

def refused(reg, url):
    st, _, body = reg.http("POST", "/v1/webhooks", {"url": url, "namespace": "*", "events": ["*"]},
                           token=reg.admin_token)
    return st == 400 and json.loads(body)["code"] == "invalid_webhook"


def test_webhooks_refuse_private_and_link_local_targets(registry, hooked, receiver):
    recv = receiver()
    # The shared server runs without --webhooks-allow-private: loopback and private targets are refused,
    # literal or by a name that resolves to one.
    _, _, before = registry.http("GET", "/v1/webhooks", token=registry.admin_token)
    for url in (recv.url, f"http://localhost:{recv.port}/", f"http://[::1]:{recv.port}/", "http://10.0.0.1/",
                f"http://[::ffff:127.0.0.1]:{recv.port}/"):
        assert refused(registry, url), url
    _, _, after = registry.http("GET", "/v1/webhooks", token=registry.admin_token)
    assert after == before
    # Link-local (cloud metadata) stays refused with the flag; loopback is then accepted.
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/"):
        assert refused(hooked, url), url
    subscribe(hooked, recv.url)
