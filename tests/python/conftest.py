"""Shared fixtures for the Python test suite (one pytest call in CI: scripts/python-tests.sh).

A session-wide `registry` fixture starts a real `registry-server` (embedded SQLite + a local blob
directory in a temporary data dir) on a free loopback port and drives the real `registry` CLI against it.
Binaries come from $REGISTRY_BIN_DIR (default: <repo>/target/debug); nothing is built here.
`running_registry(work, *flags)` starts another such server with extra flags (e.g. `--anonymous-read`).
"""
import contextlib
import hashlib
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def bin_dir() -> Path:
    return Path(os.environ.get("REGISTRY_BIN_DIR") or REPO / "target" / "debug")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliError(AssertionError):
    pass


class Registry:
    """A running registry-server plus helpers for the CLI and raw HTTP."""

    def __init__(self, url, data_dir, work, proc, log_path):
        self.url, self.data_dir, self.work, self.proc, self.log_path = url, data_dir, work, proc, log_path
        self.admin_token = (data_dir / "bootstrap-admin.token").read_text().strip()
        self._n = 0

    # ---- CLI ---------------------------------------------------------------------------------
    def cli(self, *args, token=None, json_out=True, check=True, timeout=120):
        """Run `registry [--json] ARGS` as `token` (default: the bootstrap admin).

        Returns the parsed JSON (json_out) or the CompletedProcess. With check, a non-zero exit fails
        the calling test with the command's output."""
        env = _clean_env()
        env.update(REGISTRY_URL=self.url, REGISTRY_TOKEN=token or self.admin_token,
                   REGISTRY_CONFIG_DIR=str(self.work / "cli-config"))
        cmd = [str(bin_dir() / "registry")] + (["--json"] if json_out else []) + [str(a) for a in args]
        p = subprocess.run(cmd, env=env, cwd=self.work, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CliError(f"{' '.join(cmd[1:])} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        if json_out and check:
            return json.loads(p.stdout) if p.stdout.strip() else None
        return p

    def token(self, name, scopes, namespace):
        """Create a token; returns (token, identity) where identity is `token:NAME` as the server records it."""
        out = self.cli("token", "create", "--name", name, "--scopes", scopes, "--namespace", namespace)
        return out["token"], f"token:{out['info']['name']}"

    def unique(self, prefix):
        self._n += 1
        return f"{prefix}{self._n}"

    # ---- raw HTTP ----------------------------------------------------------------------------
    def http(self, method, path, body=None, token=None, headers=None):
        """One request; returns (status, headers, body bytes). Never raises on an HTTP status."""
        h = dict(headers or {})
        if token is not None:
            h.setdefault("Authorization", f"Bearer {token}")
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def manifest(self, model, version):
        """The canonical manifest of NS/NAME@VERSION: {path: (sha256 hex, size)}."""
        ns, name = model.split("/", 1)
        st, _, body = self.http("GET", f"/v1/models/{ns}/{name}/versions/{version}/manifest", token=self.admin_token)
        assert st == 200, (st, body)
        return {f["path"]: (f["digest"].removeprefix("sha256:"), f["size"]) for f in json.loads(body)["files"]}

    def server_log(self):
        return self.log_path.read_text(errors="replace")


def _clean_env():
    """The parent environment minus anything that would point a client somewhere else."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "REGISTRY_")) and k not in ("DATABRICKS_HOST", "DATABRICKS_TOKEN")}


@contextlib.contextmanager
def running_registry(work: Path, *server_args):
    """A registry-server on a free loopback port with its data in `work`/data (extra flags such as
    `--anonymous-read` in `server_args`); yields its Registry and stops it afterwards."""
    server = bin_dir() / "registry-server"
    for b in (server, bin_dir() / "registry"):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} is missing: build it (cargo build -p registry-server -p registry-client) "
                        f"or set REGISTRY_BIN_DIR")
    data = work / "data"
    port = free_port()
    log_path = work / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([str(server), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                             *map(str, server_args)],
                            stdout=log, stderr=subprocess.STDOUT, env=_clean_env(), cwd=work)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"registry-server exited {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
                if r.status == 200 and (data / "bootstrap-admin.token").exists():
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"registry-server did not answer /v1/health within 60 s:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.1)
    try:
        yield Registry(url, data, work, proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    text = log_path.read_text(errors="replace")
    assert "panicked" not in text, f"the server panicked during the tests:\n{text[-4000:]}"


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


# ---- a recording reverse proxy: what the MLflow client really sent and got back ----------------

class Exchange:
    __slots__ = ("method", "path", "status", "req_sha256", "req_len", "req_body", "resp_body", "authorization")

    def __repr__(self):
        return f"{self.method} {self.path} -> {self.status}"


class RecordingProxy:
    """Forwards every request to `upstream` unchanged and records method, path, status and the SHA-256 of each
    request body (bodies up to 1 MiB kept), so a test can compare what a client uploaded with what the registry
    serves, and see every status the client was answered."""

    KEEP = 1 << 20

    def __init__(self, upstream):
        self.upstream = upstream.removeprefix("http://")
        self.exchanges = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                ex = Exchange()
                ex.method, ex.path = self.command, self.path
                ex.authorization = (self.headers.get("Authorization") or "").split(" ")[0]
                n = int(self.headers.get("Content-Length") or 0)
                h = hashlib.sha256()
                body = bytearray()
                chunks = []
                left = n
                while left:
                    c = self.rfile.read(min(left, 1 << 20))
                    if not c:
                        break
                    left -= len(c)
                    h.update(c)
                    chunks.append(c)
                    if len(body) < proxy.KEEP:
                        body += c
                ex.req_sha256, ex.req_len, ex.req_body = h.hexdigest(), n, bytes(body[:proxy.KEEP])
                up = http.client.HTTPConnection(proxy.upstream, timeout=300)
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "host")}
                up.request(self.command, self.path, body=b"".join(chunks) if n else None, headers=fwd)
                r = up.getresponse()
                data = r.read()
                up.close()
                ex.status, ex.resp_body = r.status, data[:proxy.KEEP]
                proxy.exchanges.append(ex)  # list.append is atomic; handlers run in threads
                self.send_response_only(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def uploads(self, prefix="/api/2.0/mlflow-artifacts/artifacts/"):
        """{artifact path: Exchange} of every PUT the client made below `prefix`."""
        return {e.path[len(prefix):]: e for e in self.exchanges if e.method == "PUT" and e.path.startswith(prefix)}

    def server_errors(self):
        return [e for e in self.exchanges if e.status >= 500]


@pytest.fixture
def proxy_factory():
    made = []

    def make(upstream):
        p = RecordingProxy(upstream)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def run_python(script_or_code, env, timeout=180, cwd=None):
    """Run a Python file (Path) or code string (str) with this interpreter (the venv that has the MLflow
    client) and `env` on top of a clean environment; returns the CompletedProcess."""
    full = _clean_env()
    full.update(env)
    args = [sys.executable, str(script_or_code)] if isinstance(script_or_code, Path) else [sys.executable, "-c", script_or_code]
    return subprocess.run(args, env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout)
