#!/usr/bin/env python3
"""A registry with a long history, for issue 22's scale rows (used by bench/history.sh).

  history.py grow DB VERSIONS MODELS LOG_ENTRIES ALIAS_MOVES
      Appends to a stopped registry's database (DB: a SQLite file or a postgres:// URL) MODELS new
      models `hist/mNNNNN` holding VERSIONS versions in all, ALIAS_MOVES moves of their `prod` alias
      and filler `annotation.set` entries up to LOG_ENTRIES new log entries. Every row is a copy of the
      newest version (and of the newest alias move) already there, renamed: same manifest and blobs,
      lineage with a dataset digest of its own per 10 versions (so a blast radius reaches 10), and every
      log entry is a real leaf of the Merkle tree (nodes computed here as the server does), so proofs,
      checkpoints and the log's consistency hold. Rows go in with COPY (PostgreSQL) or one transaction
      of executemany (SQLite).
  history.py measure URL TOKEN MODEL N
      Times N sequential requests of each kind against a running server (keep-alive, one client) and
      prints `kind p50_ms p99_ms` lines: get-by-alias, create-version (new labels of MODEL), list
      (first page of MODEL's versions), inclusion proof (random index), blast radius (a dataset of
      10 versions, or of the seed version when the registry has no generated models).
"""
import csv
import hashlib
import http.client
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import urllib.parse

def leaf(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Db:
    """The few reads the generator needs, on either backend."""

    def __init__(self, url):
        self.pg = url.startswith("postgres")
        self.url = url
        if not self.pg:
            self.conn = sqlite3.connect(url)

    def rows(self, sql):
        if not self.pg:
            return self.conn.execute(sql).fetchall()
        out = subprocess.run(["psql", self.url, "-AtX", "-F", "\x1f", "-R", "\x1e", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [tuple(None if f == "" else f for f in r.split("\x1f")) for r in out.split("\x1e") if r != ""]

    def one(self, sql):
        r = self.rows(sql)
        return r[0] if r else None


COLUMNS = {
    "models": ["id", "namespace", "name", "created_by", "created_at"],
    "versions": ["id", "model_id", "version", "manifest_digest", "oms_root_digest", "manifest", "lineage",
                 "metadata", "file_count", "total_size", "code_commit", "created_by", "created_at", "log_index",
                 "quarantined", "corrupted", "seq", "oci_manifest_digest", "oci_manifest_size",
                 "oci_config_digest", "oci_generator"],
    "version_blobs": ["version_id", "digest"],
    "blob_models": ["digest", "namespace", "name"],
    "version_datasets": ["version_id", "digest", "uri", "role"],
    "aliases": ["model_id", "name", "version_id", "updated_by", "updated_at"],
    "alias_history": ["id", "model_id", "name", "version_id", "previous_version_id", "kind", "decision",
                      "reasons", "policies", "actor", "reason", "vsa_attestation_id", "log_index", "at"],
    "log_entries": ["idx", "kind", "subject", "body", "created_at"],
    "log_nodes": ["level", "idx", "hash"],
}


class Sink:
    """Rows per table: CSV files for PostgreSQL's COPY, or lists for SQLite's executemany."""

    def __init__(self, db, work):
        self.db, self.work = db, work
        self.files, self.writers, self.lists = {}, {}, {}

    def add(self, table, row):
        if self.db.pg:
            if table not in self.writers:
                f = open(os.path.join(self.work, table + ".csv"), "w", newline="")
                self.files[table], self.writers[table] = f, csv.writer(f)
            self.writers[table].writerow(["\\N" if v is None else v for v in row])
        else:
            self.lists.setdefault(table, []).append(row)
            if len(self.lists[table]) >= 200_000:
                self.flush_sqlite(table)

    def flush_sqlite(self, table):
        cols = COLUMNS[table]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.db.conn.executemany(sql, self.lists.pop(table, []))

    def finish(self, head):
        if not self.db.pg:
            for t in list(self.lists):
                self.flush_sqlite(t)
            self.db.conn.execute("UPDATE log_head SET size = ? WHERE id = 1", (head,))
            self.db.conn.commit()
            return
        for f in self.files.values():
            f.close()
        script = io.StringIO()
        script.write("BEGIN;\n")
        for t in self.files:
            path = os.path.join(self.work, t + ".csv")
            script.write(f"\\copy {t} ({', '.join(COLUMNS[t])}) FROM '{path}' WITH (FORMAT csv, NULL '\\N')\n")
        script.write(f"UPDATE log_head SET size = {head} WHERE id = 1;\n")
        for t in ["models", "versions", "alias_history"]:
            script.write(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}));\n")
        script.write("COMMIT;\nANALYZE;\n")
        subprocess.run(["psql", self.db.url, "-qX", "-v", "ON_ERROR_STOP=1"], input=script.getvalue(),
                       text=True, check=True, stdout=subprocess.DEVNULL)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def grow(url, versions, models, log_entries, alias_moves, work):
    db = Db(url)
    if not db.pg:
        db.conn.execute("PRAGMA synchronous = OFF")
    vcols = ", ".join(COLUMNS["versions"])
    template = db.one(f"SELECT {vcols} FROM versions v WHERE EXISTS (SELECT 1 FROM version_datasets d "
                      "WHERE d.version_id = v.id) ORDER BY id DESC LIMIT 1")
    t = dict(zip(COLUMNS["versions"], template))
    blobs = [r[0] for r in db.rows(f"SELECT digest FROM version_blobs WHERE version_id = {t['id']}")]
    ds = db.one(f"SELECT digest, uri, role FROM version_datasets WHERE version_id = {t['id']}")
    move = db.one("SELECT kind, decision, reasons, policies, actor, reason FROM alias_history "
                  "WHERE decision = 'passed' ORDER BY id DESC LIMIT 1")
    move_body = json.loads(db.one("SELECT body FROM log_entries WHERE kind = 'alias.moved' ORDER BY idx DESC LIMIT 1")[0])
    created_body = json.loads(db.one(f"SELECT body FROM log_entries WHERE idx = {t['log_index']}")[0])
    size = int(db.one("SELECT size FROM log_head WHERE id = 1")[0])
    next_model = int(db.one("SELECT COALESCE(MAX(id), 0) FROM models")[0]) + 1
    next_version = int(db.one("SELECT COALESCE(MAX(id), 0) FROM versions")[0]) + 1
    next_move = int(db.one("SELECT COALESCE(MAX(id), 0) FROM alias_history")[0]) + 1
    # The newest node at each level: the left siblings the next leaves complete.
    frontier = {}
    for level in range(64):
        n = size >> level
        if n == 0:
            break
        h = db.one(f"SELECT hash FROM log_nodes WHERE level = {level} AND idx = {n - 1}")
        if h:
            frontier[level] = bytes.fromhex(h[0])
    sink = Sink(db, work)
    actor = "token:history-generator"
    now = int(time.time() * 1000) - versions  # one ms apart, ending now
    lineage_text, lineage_ds = t["lineage"], (ds[0] if ds else None)
    fixed = models + versions + alias_moves
    filler = max(0, log_entries - fixed)
    per_version_filler = filler / max(versions, 1)
    made = {"filler": 0, "entries": 0}
    idx = size

    def append(kind, subject, body):
        nonlocal idx
        text = canonical(body).encode()
        sink.add("log_entries", (idx, kind, subject, text.decode(), now))
        cur = leaf(text)
        sink.add("log_nodes", (0, idx, cur.hex()))
        level, i = 0, idx
        while i & 1:
            cur = node(frontier[level], cur)
            level, i = level + 1, i >> 1
            sink.add("log_nodes", (level, i, cur.hex()))
        frontier[level] = cur
        idx += 1
        made["entries"] += 1
        return idx - 1

    per_model = versions // models
    moves_every = max(1, versions // max(alias_moves, 1))
    done_versions = 0
    for m in range(models):
        mid, name = next_model + m, f"m{m:05d}"
        subject_model = f"hist/{name}"
        sink.add("models", (mid, "hist", name, actor, now))
        append("model.created", subject_model, {"actor": actor, "subject": subject_model,
                                                "time": rfc3339(now), "type": "model.created"})
        for d in blobs:
            sink.add("blob_models", (d, "hist", name))
        prod, prod_label = None, None
        count = per_model + (1 if m < versions % models else 0)
        for k in range(1, count + 1):
            vid = next_version + done_versions
            label = f"v{k}"
            group = done_versions // 10
            dsd = hashlib.sha256(f"history-dataset-{group}".encode()).hexdigest()
            lineage = lineage_text.replace(lineage_ds, dsd) if lineage_ds else lineage_text
            body = dict(created_body, actor=actor, subject=f"{subject_model}@{label}", time=rfc3339(now),
                        lineage_digest="sha256:" + hashlib.sha256(lineage.encode()).hexdigest())
            li = append("version.created", body["subject"], body)
            row = dict(t, id=vid, model_id=mid, version=label, lineage=lineage, created_by=actor,
                       created_at=now, log_index=li, seq=k, quarantined=0, corrupted=0)
            sink.add("versions", tuple(row[c] for c in COLUMNS["versions"]))
            for d in blobs:
                sink.add("version_blobs", (vid, d))
            if ds:
                sink.add("version_datasets", (vid, dsd, ds[1], ds[2]))
            done_versions += 1
            if done_versions % moves_every == 0 and move:
                mb = dict(move_body, actor=actor, subject=f"{subject_model}@{label}", time=rfc3339(now),
                          alias="prod", previous=prod_label)
                li = append("alias.moved", mb["subject"], mb)
                sink.add("alias_history", (next_move, mid, "prod", vid, prod, move[0], move[1], move[2],
                                           move[3], actor, move[5], None, li, now))
                next_move += 1
                prod, prod_label = vid, label
            while made["filler"] < per_version_filler * done_versions:
                append("annotation.set", f"{subject_model}@{label}",
                       {"actor": actor, "key": f"k{made['filler'] % 7}", "kind": "tag",
                        "subject": f"{subject_model}@{label}", "time": rfc3339(now), "type": "annotation.set",
                        "value": str(made["filler"])})
                made["filler"] += 1
            now += 1
        if prod is not None:
            sink.add("aliases", (mid, "prod", prod, actor, now))
        if m % 100 == 99:
            print(f"  {m + 1}/{models} models, {done_versions} versions, {made['entries']} entries",
                  file=sys.stderr, flush=True)
    sink.finish(idx)
    return done_versions, made["entries"], idx


class Http:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        t0 = time.perf_counter()
        self.conn.request(method, path, body=body, headers=self.h)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
        return time.perf_counter() - t0, data


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def measure(url, token, model, n):
    c = Http(url, token)
    ns, name = model.split("/")
    _, data = c.call("GET", f"/v1/models/{ns}/{name}/versions?limit=1")
    newest = json.loads(data)["versions"][0]
    _, data = c.call("GET", f"/v1/models/{ns}/{name}/versions/{newest['version']}/manifest")
    body = json.dumps({"manifest": json.loads(data), "lineage": {"datasets": []}})
    _, data = c.call("GET", "/v1/log/checkpoint")
    size = int(data.decode().split("\n")[1])  # a signed note: origin, size, root, ...
    dsets = newest.get("lineage", {}).get("datasets") or []
    rng = random.Random(22)
    tag = f"{int(time.time())}"
    kinds = {
        "get-by-alias": lambda i: ("GET", f"/v1/models/{ns}/{name}/aliases/prod", None),
        "create-version": lambda i: ("PUT", f"/v1/models/{ns}/{name}/versions/bench-{tag}-{i}", body),
        "list": lambda i: ("GET", f"/v1/models/{ns}/{name}/versions?limit=100", None),
        "inclusion-proof": lambda i: ("GET", f"/v1/log/proofs/inclusion?index={rng.randrange(size)}&tree_size={size}", None),
        "blast-radius": lambda i: ("GET", "/v1/lineage/affected?" + (
            f"dataset={dsets[0]['digest']}" if dsets else f"version={ns}/{name}@{newest['version']}"), None),
    }
    for kind, req in kinds.items():
        for i in range(5):  # warm-up
            c.call(*req(-1 - i) if kind != "create-version" else req(f"w{i}"))
        times = [c.call(*req(i))[0] for i in range(n)]
        print(f"{kind} {pct(times, 0.5):.2f} {pct(times, 0.99):.2f}", flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "grow":
        url, v, m, l, a = sys.argv[2], *map(int, sys.argv[3:7])
        work = sys.argv[7] if len(sys.argv) > 7 else "/tmp"
        t0 = time.time()
        made = grow(url, v, m, l, a, work)
        print(f"grew {made[0]} versions, {made[1]} log entries (log size {made[2]}) in {time.time() - t0:.0f} s",
              file=sys.stderr)
    elif cmd == "measure":
        measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        raise SystemExit(__doc__)
