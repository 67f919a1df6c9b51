"""The web UI (docs/ui.md) in headless Chromium, driven by Playwright against a real registry-server.

The data is seeded through the real `registry` CLI; what the pages show is compared with what the CLI
(or the /v1 API) reports for the same credential. Every page visited is saved as a full-page screenshot
in target/ui-screenshots/<name>.png with its HTML beside it (CI artifacts) and checked with axe-core (no
serious or critical violation). Every browser context also checks, on every page: each request it makes
stays on the registry's origin, each /ui response carries the security headers of docs/ui.md, and
nothing is logged to the console as an error.

Chromium is Debian's (scripts/chromium.sh; $REGISTRY_CHROMIUM), never a Playwright download; axe-core is
the pinned copy of scripts/axe.sh ($REGISTRY_AXE, else the script is run). Without Chromium the tests skip,
unless REGISTRY_REQUIRE_CHROMIUM=1 (CI), where they fail.

Markup details the contract leaves open (field names, where a value sits in an element) are looked up
tolerantly; behaviour and the data-testid contract are checked strictly.
"""
import hashlib
import http.client
import json
import os
import re
import subprocess
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO, running_registry

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the skip (or, in CI, the failure) happens in the `browser` fixture
    sync_playwright = None

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 # without these Chromium keeps dialing Google services (refused on a closed network)
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "ui-screenshots"
PROVENANCE_POLICY = REPO / "docs" / "policies" / "provenance.rego"
NS, SECRET = "uimain", "uisecret"
CHAIN, FLOW, REVOKED, HIDDEN = f"{NS}/chain", f"{NS}/flow", f"{NS}/revoked", f"{SECRET}/hidden"
SESSION_COOKIE = "registry_session"


def _unavailable(reason):
    if os.environ.get("REGISTRY_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{reason} (and REGISTRY_REQUIRE_CHROMIUM=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    exe = os.environ.get("REGISTRY_CHROMIUM") or "/usr/bin/chromium"
    if sync_playwright is None:
        _unavailable("the playwright package is not installed (scripts/venv.sh pins it)")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        _unavailable(f"no Chromium at {exe}: run scripts/chromium.sh (or set REGISTRY_CHROMIUM)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def axe_source():
    path = os.environ.get("REGISTRY_AXE")
    if not path:
        p = subprocess.run([str(REPO / "scripts" / "axe.sh")], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            _unavailable(f"scripts/axe.sh failed: {p.stderr.strip()}")
        path = p.stdout.strip()
    return Path(path).read_text()


# ---- one browser context, with the checks every page gets ---------------------------------------

class Tab:
    """One browser context and page on a registry. visit()/submit() load a page, then screenshot it, run
    axe on it and fail on any cross-origin request, missing /ui header or console error seen so far.
    Accessibility violations fail the test at its end, so they do not hide the behaviour checks after them."""

    def __init__(self, browser, axe, reg, js=True):
        self.browser, self.axe_js, self.reg = browser, axe, reg
        self.origin = _origin(reg.url)
        self.context = browser.new_context(java_script_enabled=js, base_url=reg.url)
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.problems, self.responses, self.expected_errors = [], [], set()
        self.a11y = []  # serious/critical axe violations, asserted when the test ends (see `tabs`)
        self.page.on("request", self._on_request)
        self.page.on("response", lambda r: self.responses.append(r))
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught page error: {e}"))

    def _on_request(self, req):
        if _origin(req.url) != self.origin:
            self.problems.append(f"cross-origin request: {req.method} {req.url}")

    def _on_console(self, msg):
        if msg.type == "error":
            self.problems.append((msg.text, (msg.location or {}).get("url", "")))

    # -- navigation
    def visit(self, name, path, status=200):
        resp = self.page.goto(path)
        assert resp is not None, path
        if status != 200:
            self.expected_errors.add(self.page.url)
        assert resp.status == status, f"{path}: status {resp.status}, expected {status}\n{self.text()[:2000]}"
        self.settle(name)
        return resp

    def submit(self, name, form, status=200):
        """Submit `form` with its own submit button (no script involved) and check the page it leads to
        (`status`: the one expected, or a tuple of those allowed)."""
        button = form.locator("button[type=submit], input[type=submit], button:not([type])").first
        with self.page.expect_navigation() as nav:
            button.click()
        resp = nav.value
        if resp.status != 200:
            self.expected_errors.add(self.page.url)
        allowed = status if isinstance(status, tuple) else (status,)
        assert resp.status in allowed, f"{name}: status {resp.status}, expected {status}\n{self.text()[:2000]}"
        self.settle(name)
        return resp

    def settle(self, name):
        self.page.wait_for_load_state("load")
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        (SHOTS / f"{name}.html").write_text(self.page.content())  # what the screenshot shows, greppable
        self.axe(name)
        self.check(name)

    def axe(self, name):
        """axe-core over this page's DOM. The page's CSP forbids the (inline) injected script, so the DOM is
        replayed at the same URL in a context that bypasses CSP (styles still come from the server)."""
        html, url = self.page.content(), self.page.url
        ctx = self.browser.new_context(bypass_csp=True)
        try:
            ctx.add_cookies(self.context.cookies())
            pg = ctx.new_page()
            pg.route(lambda u: u == url,
                     lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html))
            pg.goto(url)
            pg.add_script_tag(content=self.axe_js)
            violations = pg.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
                .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))""")
        finally:
            ctx.close()
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        if bad:
            self.a11y.append(f"{name} ({url}): " + json.dumps(bad, indent=1))

    def check(self, name):
        problems = []
        for p in self.problems:
            if isinstance(p, tuple):
                text, where = p
                if text.startswith("Failed to load resource") and where in self.expected_errors:
                    continue  # the error status of a page visited for it (e.g. a 404 page)
                p = f"console error: {text} ({where})"
            problems.append(p)
        for r in self.responses:
            problems += [f"{r.url}: {m}" for m in ui_header_problems(r.url, r.all_headers())]
        self.problems, self.responses = [], []
        assert not problems, f"{name}: " + "\n".join(problems)

    # -- reading the page
    def tid(self, testid):
        return self.page.get_by_test_id(testid)

    def text(self):
        return self.page.locator("body").inner_text()

    def cookie(self):
        return next((c for c in self.context.cookies() if c["name"] == SESSION_COOKIE), None)

    def close(self):
        self.context.close()

    # -- sessions
    def sign_in(self, token, name="login"):
        self.visit(f"{name}-form", "/ui/login")
        field = token_field(self.page)
        field.fill(token)
        return self.submit(f"{name}-done", field.locator("xpath=ancestor::form[1]"))


def _origin(url):
    u = urllib.parse.urlsplit(url)
    return (u.scheme, u.netloc)


def ui_header_problems(url, headers):
    """What a /ui response lacks of docs/ui.md's headers (header names lower case)."""
    path = urllib.parse.urlsplit(url).path
    if not (path == "/ui" or path.startswith("/ui/")):
        return []
    out = []
    if headers.get("content-security-policy") != CSP:
        out.append(f"Content-Security-Policy is {headers.get('content-security-policy')!r}")
    if headers.get("x-content-type-options") != "nosniff":
        out.append(f"X-Content-Type-Options is {headers.get('x-content-type-options')!r}")
    if headers.get("referrer-policy") != "same-origin":
        out.append(f"Referrer-Policy is {headers.get('referrer-policy')!r}")
    kind, cache = headers.get("content-type", ""), headers.get("cache-control", "")
    if kind.startswith("text/html") and "no-store" not in cache:
        out.append(f"a page with Cache-Control {cache!r} (no-store expected)")
    if kind.startswith(("text/css", "image/", "font/")) and "immutable" not in cache:
        out.append(f"an asset with Cache-Control {cache!r} (immutable expected)")
    return out


def token_field(page):
    field = page.locator("form input[type=password], form input[name*=token i]").first
    assert field.count() == 1, "no token field on the sign-in page:\n" + page.content()[:2000]
    return field


def form_fields(form, drop=()):
    """The fields a browser would send for `form` (with its submit button), minus `drop`."""
    pairs = form.evaluate("""f => Array.from(new FormData(f,
        f.querySelector('button[type=submit], input[type=submit], button:not([type])')).entries())""")
    return [(k, v) for k, v in pairs if k not in drop]


def csrf_names(form):
    """The CSRF field(s) of a form: hidden inputs named like csrf/xsrf, else hidden opaque tokens."""
    hidden = form.evaluate("""f => Array.from(f.querySelectorAll('input[type=hidden]'))
        .map(i => [i.name, i.value])""")
    named = [n for n, _ in hidden if re.search(r"csrf|xsrf", n, re.I)]
    if named:
        return named
    opaque = [n for n, v in hidden if len(v) >= 32 and not v.startswith("sha256:") and re.fullmatch(r"[\w+/=-]+", v)]
    assert opaque, f"no CSRF field found in the form (hidden inputs: {hidden})"
    return opaque


def flag(locator):
    """`true`/`false` of an element like dry-run-allowed: from its text or one of its attributes."""
    values = locator.evaluate("""e => [e.textContent.trim(), ...Array.from(e.attributes)
        .filter(a => !['data-testid', 'class', 'id'].includes(a.name)).map(a => a.value.trim())]""")
    values = {v.lower() for v in values}
    if ("true" in values) == ("false" in values):  # e.g. text "allowed: true"
        values = set(re.findall(r"\b(true|false)\b", " ".join(values)))
    assert ("true" in values) != ("false" in values), f"neither true nor false (or both): {values}"
    return "true" in values


def number(text):
    m = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    assert m, f"no number in {text!r}"
    return m.group(0)


def raw(reg, method, path_or_url, body=None, cookie=None, headers=None):
    """One request without following redirects; returns (status, lower-case headers, body). `cookie` is
    the session cookie's value (or its `name=value`)."""
    u = urllib.parse.urlsplit(urllib.parse.urljoin(reg.url, path_or_url))
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie if "=" in cookie else f"{SESSION_COOKIE}={cookie}"
    if body is not None:
        body = urllib.parse.urlencode(body).encode() if not isinstance(body, bytes) else body
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    c = http.client.HTTPConnection(u.netloc, timeout=60)
    try:
        c.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# ---- the registry's state, seeded through the CLI ---------------------------------------------------

def api(reg, path, token=None):
    st, _, body = reg.http("GET", path, token=token or reg.admin_token)
    return st, (json.loads(body) if body and st == 200 else None)


def alias_target(reg, model, alias):
    st, body = api(reg, f"/v1/models/{model}/aliases/{alias}")
    if st == 404:
        return None
    assert st == 200, st
    return body.get("version") or body["alias"]["version"]


def history(reg, model, alias):
    return reg.cli("alias", "history", model, alias)["events"]


def log_size(reg):
    return reg.cli("log", "checkpoint")["size"]


@pytest.fixture(scope="module")
def world(registry, tmp_path_factory):
    """uimain/chain 1 -> 2 -> 3 (lineage parents; 2 signed by a trusted key, 3 quarantined) with a policy
    on prod* requiring verified provenance: production took 2, then refused 1. uimain/flow 1, 2 with
    staging and canary on 1 (no policy there). uimain/revoked 1 signed by a key revoked since.
    uisecret/hidden shares chain@1's dataset."""
    d = tmp_path_factory.mktemp("ui-seed")
    reg = registry
    reg.cli("keygen", "--out", d / "signer")
    reg.cli("keys", "add", "--namespace", f"{NS}/*", "--public-key", d / "signer.pub")
    data = d / "train.csv"
    data.write_bytes(b"x,y\n" + b"1,2\n" * 500)
    dataset = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()

    def push(model, version, *args):
        m = d / f"{model.replace('/', '_')}-{version}"
        m.mkdir()
        (m / "weights.bin").write_bytes(hashlib.sha256(f"{model}@{version}".encode()).digest() * 64)
        (m / "config.json").write_text(json.dumps({"model": model, "version": version}))
        return reg.cli("push", m, "--model", model, "--version", version, *args)["version"]

    push(CHAIN, "1", "--dataset", f"s3://ui/train.csv={dataset}")
    push(CHAIN, "2", "--parent", f"{CHAIN}@1", "--sign-key", d / "signer.key")
    push(CHAIN, "3", "--parent", f"{CHAIN}@2")
    push(FLOW, "1")
    push(FLOW, "2")
    reg.cli("keygen", "--out", d / "revoked")
    key_id = reg.cli("keys", "add", "--namespace", f"{NS}/*", "--public-key", d / "revoked.pub")["key_id"]
    push(REVOKED, "1", "--sign-key", d / "revoked.key")
    reg.cli("keys", "revoke", key_id)
    push(HIDDEN, "1", "--dataset", f"s3://secret/train.csv={dataset}")
    policy = reg.cli("policy", "set", f"{NS}/*", "prod*", PROVENANCE_POLICY)
    reg.cli("promote", f"{CHAIN}@2", "--to", "production", "--reason", "signed provenance")
    denied = reg.cli("promote", f"{CHAIN}@1", "--to", "production", "--reason", "unsigned", check=False)
    assert denied.returncode == 3, denied.stdout + denied.stderr
    for alias in ("staging", "canary"):
        reg.cli("promote", f"{FLOW}@1", "--to", alias, "--reason", "first")
    reg.cli("quarantine", "--version", f"{CHAIN}@3", "--reason", "ui test: poisoned")
    reader, _ = reg.token(reg.unique("ui-reader"), "read", f"{NS}/*")
    admin = reg.cli("whoami")["actor"]
    return SimpleNamespace(dataset=dataset, policy_id=policy["id"], reader=reader, admin=admin)


@pytest.fixture
def tabs(browser, axe_source, registry):
    made = []

    def make(reg=None, js=True):
        t = Tab(browser, axe_source, reg or registry, js=js)
        made.append(t)
        return t

    yield make
    a11y = [v for t in made for v in t.a11y]
    for t in made:
        t.close()
    assert not a11y, "accessibility violations (axe-core, impact serious or critical):\n" + "\n".join(a11y)


@pytest.fixture
def admin(tabs, registry, world):
    t = tabs()
    t.sign_in(registry.admin_token, "admin-login")
    return t


# ---- signing in and out ------------------------------------------------------------------------------

def test_signed_out_ui_is_the_sign_in_page_and_bad_sign_ins_are_refused(registry, tabs, world):
    st, h, _ = raw(registry, "GET", "/")
    assert st == 302 and urllib.parse.urljoin(registry.url, h.get("location", "")) == registry.url + "/ui/"
    t = tabs()
    resp = t.visit("signed-out-home", "/ui/")
    assert resp.request.redirected_from is None, "the sign-in page is served at /ui/ itself, not a redirect"
    token_field(t.page)
    assert t.tid("model-row").count() == 0 and t.tid("whoami").count() == 0
    # A wrong token: the error is shown and no session is made.
    field = token_field(t.page)
    field.fill("reg_" + "0" * 40)
    t.submit("login-error", field.locator("xpath=ancestor::form[1]"), status=(200, 400, 401, 403))
    assert t.tid("login-error").count() == 1 and t.tid("login-error").inner_text().strip()
    assert t.cookie() is None
    # Sign-in from another origin is refused before the token is looked at.
    t.visit("login", "/ui/login")
    name = token_field(t.page).get_attribute("name")
    st, h, _ = raw(registry, "POST", "/ui/login", {name: registry.admin_token},
                   headers={"Origin": "http://evil.example"})
    assert st == 403 and "set-cookie" not in h, (st, h)
    assert not ui_header_problems(registry.url + "/ui/login", h)


def test_sign_in_makes_a_strict_http_only_session_that_v1_never_accepts(registry, tabs, world):
    t = tabs()
    t.sign_in(registry.admin_token)
    c = t.cookie()
    assert c, "no registry_session cookie after signing in"
    assert (c["httpOnly"], c["sameSite"], c["path"], c["secure"]) == (True, "Strict", "/ui", False), c
    assert world.admin in t.tid("whoami").inner_text(), t.tid("whoami").inner_text()
    # The cookie is a /ui credential only: /v1 reads nothing but Authorization.
    for path in ("/v1/whoami", f"/v1/models/{CHAIN}/versions/1", "/v1/models?namespace=uimain"):
        st, _, body = raw(registry, "GET", path, cookie=c["value"])
        assert st == 401, (path, st, body[:200])
    st, _, body = raw(registry, "GET", "/ui/", cookie=c["value"])
    assert st == 200 and b'data-testid="whoami"' in body
    # Logging out deletes the session: the old cookie no longer signs anyone in.
    logout = t.tid("logout")
    form = logout if logout.evaluate("e => e.tagName") == "FORM" else logout.locator("xpath=ancestor-or-self::form[1]")
    t.submit("logged-out", form)
    assert t.cookie() is None or t.cookie()["value"] != c["value"]
    st, _, body = raw(registry, "GET", "/ui/", cookie=c["value"])
    assert st == 200 and b'data-testid="whoami"' not in body and b'data-testid="model-row"' not in body


def test_revoking_the_token_ends_its_sessions_at_once(registry, tabs, world):
    name = registry.unique("ui-revoked")
    token, _ = registry.token(name, "read", f"{NS}/*")
    t = tabs()
    t.sign_in(token, "revoke-login")
    assert t.tid("model-row").count() >= 1
    registry.cli("token", "revoke", name)
    t.visit("revoked-session", "/ui/")
    assert t.tid("whoami").count() == 0 and t.tid("model-row").count() == 0
    token_field(t.page)


# ---- reading --------------------------------------------------------------------------------------------

def test_model_list_filters_and_model_page(registry, admin, world):
    t = admin
    t.visit("models", "/ui/")
    assert t.tid("model-row").count() >= 1  # other tests' models may come first (the list is paged)
    t.visit("models-namespace", f"/ui/?namespace={NS}")
    assert sorted(t.tid("model-row").evaluate_all("rs => rs.map(r => r.dataset.model)")) == [CHAIN, FLOW, REVOKED]
    t.visit("models-secret", f"/ui/?namespace={SECRET}")
    assert t.tid("model-row").evaluate_all("rs => rs.map(r => r.dataset.model)") == [HIDDEN]
    t.visit("models-search", "/ui/?q=chain")
    found = t.tid("model-row").evaluate_all("rs => rs.map(r => r.dataset.model)")
    assert CHAIN in found and FLOW not in found and HIDDEN not in found, found

    t.visit("model-chain", f"/ui/models/{CHAIN}")
    rows = t.tid("version-row")
    assert [v.split("@")[-1] for v in rows.evaluate_all("rs => rs.map(r => r.dataset.version)")] == ["3", "2", "1"]
    badges = {rows.nth(i).get_attribute("data-version").split("@")[-1]: badges_in(rows.nth(i))
              for i in range(rows.count())}
    assert badges == ROW_BADGES, badges
    aliases = {r["alias"]: r["target"].split("@")[-1]
               for r in t.tid("alias-row").evaluate_all("rs => rs.map(r => ({...r.dataset}))")}
    assert aliases == {"production": "2"}, aliases


def test_a_version_whose_signer_was_revoked_is_unverified(registry, admin, world):
    t = admin
    t.visit("version-revoked", f"/ui/models/{REVOKED}/versions/1")
    assert badges_in(t.page.locator("body")) == {"unverified"}
    shown = t.tid("attestation-row").evaluate_all("rs => rs.map(r => r.dataset.status)")
    assert sorted(shown) == sorted(a["status"] for a in registry.cli("attestations", f"{REVOKED}@1"))
    assert "verified" not in shown, shown
    t.visit("model-revoked", f"/ui/models/{REVOKED}")
    assert badges_in(t.tid("version-row")) == {"attested"}


# A version page shows the verified result; a model page's version row only whether there are attestations.
BADGES = {"1": {"unsigned"}, "2": {"verified"}, "3": {"unsigned", "quarantined"}}
ROW_BADGES = {"1": {"unsigned"}, "2": {"attested"}, "3": {"unsigned", "quarantined"}}


def badges_in(locator):
    return {b for b in ("verified", "unverified", "unsigned", "attested", "quarantined", "corrupted")
            if locator.get_by_test_id(f"badge-{b}").count()}


def graph(t):
    nodes = t.tid("graph-node").evaluate_all("ns => ns.map(n => n.dataset.node)")
    edges = t.tid("graph-edge").evaluate_all("es => es.map(e => [e.dataset.from, e.dataset.to])")
    focus = t.tid("graph-node").evaluate_all(
        "ns => ns.filter(n => n.dataset.focus === 'true').map(n => n.dataset.node)")
    links = t.tid("graph-node").evaluate_all("""ns => ns.map(n => { const a = n.closest('a') || n.querySelector('a');
        return [n.dataset.node, a ? (a.getAttribute('href') || a.getAttribute('xlink:href')) : null]; })""")
    return nodes, edges, focus, links


def check_chain_graph(t, version):
    assert t.tid("lineage-graph").count() == 1
    nodes, edges, focus, links = graph(t)
    assert sorted(nodes) == [f"{CHAIN}@1", f"{CHAIN}@2", f"{CHAIN}@3"], nodes
    assert sorted(map(tuple, edges)) == [(f"{CHAIN}@1", f"{CHAIN}@2"), (f"{CHAIN}@2", f"{CHAIN}@3")], edges
    assert focus == [f"{CHAIN}@{version}"], focus
    for node, href in links:
        assert href, f"graph node {node} is not a link"
        model, v = node.split("@")
        assert urllib.parse.urlsplit(urllib.parse.urljoin(t.page.url, href)).path == f"/ui/models/{model}/versions/{v}"


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_version_page_graph_attestations_commands_and_bundle(registry, admin, world, version):
    t = admin
    t.visit(f"version-chain-{version}", f"/ui/models/{CHAIN}/versions/{version}")
    check_chain_graph(t, version)
    assert badges_in(t.page.locator("body")) == BADGES[version]
    atts = registry.cli("attestations", f"{CHAIN}@{version}")
    shown = t.tid("attestation-row").evaluate_all("rs => rs.map(r => r.dataset.status)")
    assert sorted(shown) == sorted(a["status"] for a in atts), (shown, atts)
    # The commands name this version (by label, or by its manifest digest: then the right one). An
    # unsigned version may be checked by `registry pull` (it re-hashes every byte) instead of verify.
    digest = registry.cli("show", f"{CHAIN}@{version}")["manifest_digest"]
    for testid, verbs in (("verify-command", ("registry verify",) + (("registry pull",) if version != "2" else ())),
                          ("bundle-command", ("registry bundle",))):
        text = t.tid(testid).inner_text()
        assert any(v in text for v in verbs), f"{testid} has none of {verbs}: {text}"
        refs = set(re.findall(rf"{re.escape(CHAIN)}@(sha256:[0-9a-f]{{64}}|[\w.-]+)", text))
        assert refs and refs <= {version, digest}, f"{testid} names {refs}, not {CHAIN}@{version} ({digest})"
    for path, (hexdigest, _) in registry.manifest(CHAIN, version).items():
        assert hexdigest in t.page.content(), f"{path}'s digest is not on the page"
    href = t.tid("bundle-download").get_attribute("href")
    assert href, "bundle-download has no href"
    got = t.page.request.get(urllib.parse.urljoin(t.page.url, href))
    st, _, want = registry.http("GET", f"/v1/models/{CHAIN}/versions/{version}/bundle", token=registry.admin_token)
    assert got.status == 200 and st == 200
    assert not ui_header_problems(got.url, got.headers)
    assert json.loads(got.body()) == json.loads(want), "the UI's bundle is another bundle than GET /v1/.../bundle"
    assert got.body() == want, ("the UI's bundle is the same JSON as GET /v1/.../bundle but not the same bytes "
                                f"({len(got.body())} vs {len(want)} bytes; docs/ui.md promises the same bytes)")


def decisions(t):
    rows = t.tid("decision-row")
    return [(rows.nth(i).get_attribute("data-decision"),
             [r.strip() for r in rows.nth(i).get_by_test_id("decision-reason").all_inner_texts()])
            for i in range(rows.count())]


def test_alias_page_shows_every_decision_with_its_reasons(registry, admin, world):
    t = admin
    t.visit("alias-production", f"/ui/models/{CHAIN}/aliases/production")
    want = [(e["decision"], e["reasons"]) for e in history(registry, CHAIN, "production")]
    assert [d for d, _ in want] == ["failed", "passed"]
    assert decisions(t) == want
    assert t.tid("promote-form").count() == 1 and t.tid("rollback-form").count() == 1


def test_log_page_size_and_entry(registry, admin, world):
    t = admin
    for _ in range(3):
        before = log_size(registry)
        t.visit("log", "/ui/log")
        if log_size(registry) == before:
            break
    assert int(number(t.tid("log-size").inner_text())) == before
    indexes = [int(i) for i in t.tid("log-entry").evaluate_all("es => es.map(e => e.dataset.index)")]
    assert indexes and indexes[0] == before - 1 and indexes == sorted(indexes, reverse=True), indexes
    index = registry.cli("show", f"{CHAIN}@2")["log_index"]
    t.visit("log-entry", f"/ui/log/{index}")
    assert t.tid("inclusion-proof").count() >= 1


def report_figures(t):
    return {(f["namespace"], f["field"]): f["text"] for f in t.tid("report-figure").evaluate_all(
        "fs => fs.map(f => ({namespace: f.dataset.namespace, field: f.dataset.field, text: f.textContent}))")}


def check_report(t, report):
    figures = report_figures(t)
    want = {(ns["namespace"], k): v for ns in report["namespaces"] for k, v in ns.items()
            if k != "namespace" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    unknown = set(figures) - set(want)
    assert not unknown, f"figures for fields or namespaces `registry report --json` does not have: {unknown}"
    missing = {k for k, v in want.items() if isinstance(v, int) and not k[1].endswith("_pct")} - set(figures)
    assert not missing, f"counts of `registry report --json` not on the page: {sorted(missing)}"
    for key, text in figures.items():
        shown = number(text)
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        assert abs(float(shown) - want[key]) <= 0.5 * 10 ** -decimals + 1e-9, (key, text, want[key])


def test_report_page_has_the_cli_numbers(registry, admin, world):
    admin.visit("report", "/ui/report")
    check_report(admin, registry.cli("report"))


def test_policies_quarantines_affected_and_audit_pages(registry, admin, world):
    t = admin
    t.visit("policies", "/ui/policies")
    assert f"{NS}/*" in t.text() and "prod*" in t.text()
    t.visit("policy", f"/ui/policies/{world.policy_id}")
    assert "no verified SLSA provenance signed by a trusted training key" in t.text()
    t.visit("quarantines", "/ui/quarantines")
    assert any(f"{CHAIN}@3" in r for r in t.tid("quarantine-row").all_inner_texts())
    check_affected(t, registry, registry.admin_token, world.dataset, "affected-admin")
    t.visit("audit", "/ui/audit")


def check_affected(t, reg, token, dataset, name):
    t.visit(f"{name}-form", "/ui/affected")
    form = t.page.locator("form").filter(has=t.page.locator("input[name=dataset], select")).first
    if form.locator("input[name=dataset]").count():
        form.locator("input[name=dataset]").fill(dataset)
    else:  # a kind selector and one value field
        form.locator("select").first.select_option("dataset")
        form.locator("input[type=text], input[type=search], input:not([type])").first.fill(dataset)
    t.submit(name, form)
    want = [f"{v['model']}@{v['version']}" for v in reg.cli("affected", "--dataset", dataset, token=token)["versions"]]
    rows = t.tid("affected-row").evaluate_all("rs => rs.map(r => [r.dataset.version, r.textContent])")
    assert len(rows) == len(want), (rows, want)
    for ref in want:
        model, v = ref.split("@")
        assert any(dv == ref or (dv == v and model in text) for dv, text in rows), (ref, rows)
    return rows


# ---- promoting through the UI ---------------------------------------------------------------------------

def fill_promote(form, version, reason):
    field = form.locator("select[name=version], input[name=version]")
    if field.count() == 0:
        field = form.locator("select, input[type=text], input:not([type])")
    field = field.first
    if field.evaluate("e => e.tagName") == "SELECT":
        options = field.evaluate("s => Array.from(s.options).map(o => [o.value, o.textContent.trim()])")
        value = next(v for v, label in options if version in (v, label) or v.endswith(f"@{version}"))
        field.select_option(value)
    else:
        field.fill(version)
    if form.locator("[name=reason]").count():
        form.locator("[name=reason]").first.fill(reason)


def promote_through_ui(t, reg, model, alias, version, name, check_csrf=False):
    """Dry run (nothing moves), then confirm (the alias moves, the decision is in its history)."""
    before, events = alias_target(reg, model, alias), history(reg, model, alias)
    t.visit(f"{name}-alias", f"/ui/models/{model}/aliases/{alias}")
    form = t.tid("promote-form")
    fill_promote(form, version, f"ui test: {name}")
    t.submit(f"{name}-dry-run", form)
    assert flag(t.tid("dry-run-allowed")) is True
    assert alias_target(reg, model, alias) == before, "a dry run moved the alias"
    assert history(reg, model, alias) == events, "a dry run recorded a decision"
    confirm = t.tid("confirm-form")
    assert confirm.count() == 1
    if check_csrf:
        check_csrf_on(t, reg, confirm)
        assert alias_target(reg, model, alias) == before, "a refused POST moved the alias"
    t.submit(f"{name}-confirmed", confirm)
    assert alias_target(reg, model, alias) == version
    after = history(reg, model, alias)
    assert len(after) == len(events) + 1 and after[1:] == events
    actor = reg.cli("whoami")["actor"]
    assert (after[0]["decision"], after[0]["version"], after[0]["actor"]) == ("passed", version, actor), after[0]
    t.visit(f"{name}-history", f"/ui/models/{model}/aliases/{alias}")
    assert decisions(t) == [(e["decision"], e["reasons"]) for e in after]


def check_csrf_on(t, reg, form):
    action = form.evaluate("f => f.action")
    assert form.evaluate("f => f.method") == "post"
    csrf = csrf_names(form)
    session = t.cookie()["value"]
    same = {"Origin": reg.url}
    for label, fields, cookie, status in (
            ("no CSRF field", form_fields(form, drop=csrf), session, 403),
            ("a wrong CSRF token", form_fields(form, drop=csrf) + [(n, "0" * 64) for n in csrf], session, 403),
            ("no session", form_fields(form), None, 401)):
        st, h, body = raw(reg, "POST", action, fields, cookie=cookie, headers=same)
        assert st == status, f"POST {action} with {label}: {st}, expected {status}\n{body[:500]}"
        assert not ui_header_problems(action, h), ui_header_problems(action, h)


def test_promote_dry_run_then_confirm_and_csrf(registry, admin, world):
    promote_through_ui(admin, registry, FLOW, "staging", "2", "promote", check_csrf=True)


def test_denied_dry_run_shows_the_policy_reasons_and_records_nothing(registry, admin, world):
    t = admin
    events = history(registry, CHAIN, "production")
    t.visit("deny-alias", f"/ui/models/{CHAIN}/aliases/production")
    form = t.tid("promote-form")
    fill_promote(form, "1", "ui test: denied")
    t.submit("deny-dry-run", form)
    assert flag(t.tid("dry-run-allowed")) is False
    want = registry.cli("policy", "test", f"{CHAIN}@1", "--to", "production", check=False)
    assert want.returncode == 3, want.stdout + want.stderr
    assert [r.strip() for r in t.tid("dry-run-reason").all_inner_texts()] == json.loads(want.stdout)["reasons"]
    assert alias_target(registry, CHAIN, "production") == "2"
    assert history(registry, CHAIN, "production") == events


def test_pages_and_promotion_work_without_javascript(registry, tabs, world):
    t = tabs(js=False)
    t.sign_in(registry.admin_token, "nojs-login")
    t.visit("nojs-version", f"/ui/models/{CHAIN}/versions/2")
    check_chain_graph(t, "2")
    promote_through_ui(t, registry, FLOW, "canary", "2", "nojs-promote")


# ---- who sees what ------------------------------------------------------------------------------------

def test_a_namespace_token_sees_nothing_of_other_namespaces(registry, tabs, world):
    t = tabs()
    t.sign_in(world.reader, "reader-login")
    pages = []

    def visit(name, path, status=200):
        t.visit(name, path, status)
        pages.append((name, t.page.content()))

    visit("reader-models", "/ui/")
    assert sorted(t.tid("model-row").evaluate_all("rs => rs.map(r => r.dataset.model)")) == [CHAIN, FLOW, REVOKED]
    visit("reader-search", "/ui/?q=hidden")
    assert t.tid("model-row").count() == 0
    t.visit("reader-namespace", f"/ui/?namespace={SECRET}")  # (the filter field echoes the name)
    assert t.tid("model-row").count() == 0
    visit("reader-report", "/ui/report")
    check_report(t, registry.cli("report", token=world.reader))
    assert {ns for ns, _ in report_figures(t)} == {NS}
    check_affected(t, registry, world.reader, world.dataset, "reader-affected")
    pages.append(("reader-affected", t.page.content()))
    visit("reader-quarantines", "/ui/quarantines")
    visit("reader-version", f"/ui/models/{CHAIN}/versions/1")
    for name, html in pages:
        assert SECRET not in html, f"{name} shows something of namespace {SECRET}"
    # A model outside the token's namespaces is the same 404 page as one that does not exist.
    hidden = {}
    for label, path in (("hidden", f"/ui/models/{HIDDEN}"), ("missing", f"/ui/models/{SECRET}/nothing"),
                        ("hidden-version", f"/ui/models/{HIDDEN}/versions/1")):
        t.visit(f"reader-404-{label}", path, status=404)
        hidden[label] = t.tid("error-message").inner_text().strip()
    assert hidden["hidden"] == hidden["missing"].replace(f"{SECRET}/nothing", HIDDEN), hidden
    # The log needs a credential over every namespace; the audit needs admin.
    for name, path in (("reader-log", "/ui/log"), ("reader-audit", "/ui/audit")):
        resp = t.page.goto(path)
        assert resp.status in (403, 404), (path, resp.status)
        t.expected_errors.add(t.page.url)
        t.settle(name)
        assert t.tid("log-entry").count() == 0 and SECRET not in t.page.content()


def test_anonymous_read_shows_models_without_sign_in(tabs, tmp_path):
    with running_registry(tmp_path, "--anonymous-read") as reg:
        m = tmp_path / "model"
        m.mkdir()
        (m / "weights.bin").write_bytes(b"anonymous weights")
        reg.cli("push", m, "--model", "anon/open", "--version", "1")
        t = tabs(reg)
        t.visit("anonymous-models", "/ui/")
        assert t.tid("model-row").evaluate_all("rs => rs.map(r => r.dataset.model)") == ["anon/open"]
        assert t.cookie() is None
        t.visit("anonymous-version", "/ui/models/anon/open/versions/1")
        assert t.tid("graph-node").evaluate_all("ns => ns.map(n => n.dataset.node)") == ["anon/open@1"]


def test_sessions_are_secure_behind_https(tabs, tmp_path):
    """Behind a TLS proxy (--public-url https://...) the browser's origin is the public one; the cookie is
    Secure (`registry_session` on /ui, or the stricter `__Host-registry_session`, which must be on /)."""
    public = "https://registry.example"
    with running_registry(tmp_path, "--public-url", public) as reg:
        t = tabs(reg)
        t.visit("https-login", "/ui/login")
        field = token_field(t.page)
        form = field.locator("xpath=ancestor::form[1]")
        fields = [(k, reg.admin_token if k == field.get_attribute("name") else v) for k, v in form_fields(form)]
        action = form.evaluate("f => f.action")
        st, _, _ = raw(reg, "POST", action, fields, headers={"Origin": "https://evil.example"})
        assert st == 403
        st, h, body = raw(reg, "POST", action, fields, headers={"Origin": public})
        assert st in (302, 303), (st, body[:500])
        assert not ui_header_problems(reg.url + "/ui/login", h)
        cookie = h.get("set-cookie", "")
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
        name, value = cookie.split(";")[0].split("=", 1)
        assert {"httponly", "secure", "samesite", "path"} <= set(attrs), cookie
        path = {SESSION_COOKIE: "path=/ui", f"__Host-{SESSION_COOKIE}": "path=/"}.get(name)
        assert path and "domain" not in attrs, cookie
        assert (attrs["samesite"].lower(), attrs["path"].lower()) == ("samesite=strict", path), cookie
        value = f"{name}={value}"
        st, _, body = raw(reg, "GET", "/ui/", cookie=value)
        assert st == 200 and b'data-testid="whoami"' in body
        # Expiry itself is tested without waiting on the clock in tests/tests/e2e/ui.rs.
