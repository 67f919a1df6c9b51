//! The OCI Distribution Spec's requirements on a read-only registry, one test each, against a real
//! server. Citations are to `spec.md` at tag v1.1.1 (line
//! numbers), or to `main` where it is newer; the checks of the spec's own suite (v1.1.1
//! `conformance/01_pull_test.go` and `03_discovery_test.go`) are ported, not copied: its Go needs a
//! toolchain and module proxy this machine lacks. Push is a category we do not claim (spec.md:134);
//! the Content Management MUSTs that still bind a registry with deletion disabled are here.
//! Behaviour beyond the spec (aliases, `+`, quarantine, auth) is `oci.rs`.
#![allow(clippy::unwrap_used)]

use registry_core::Digest;
use registry_core::oci::{INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use registry_e2e::oci::*;
use registry_e2e::*;
use reqwest::Method;
use serde_json::Value;

async fn start() -> (TestServer, Fixture, V2) {
    let s = TestServer::start().await;
    let f = fixture(&s).await;
    let v2 = V2::basic(&s.url, &s.admin_token);
    (s, f, v2)
}

/// What the suite calls `dummyDigest`: a well-formed digest of nothing stored.
fn dummy_digest() -> String {
    Digest::of(b"hello world").to_string()
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` (spec.md:155-158).
fn is_spec_name(name: &str) -> bool {
    name.split('/').all(|component| {
        let b = component.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut i = 0;
        let run = |i: &mut usize| {
            let start = *i;
            while *i < b.len() && alnum(b[*i]) {
                *i += 1;
            }
            *i > start
        };
        if !run(&mut i) {
            return false;
        }
        while i < b.len() {
            // A separator: `.`, `_`, `__` or one or more `-`, then another run.
            match b[i] {
                b'.' => i += 1,
                b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
                b'-' => {
                    while i < b.len() && b[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            if !run(&mut i) {
                return false;
            }
        }
        true
    })
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (spec.md:164-166).
fn is_spec_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

fn tag_list(a: &Answer) -> Vec<String> {
    a.json()["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
}

// ---- Determining support ----

/// spec.md:759-761 "If the response is `200 OK`, then the registry implements this specification"
/// (end-1: 200, or 401 for the auth ping, which `oci.rs` checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_v2_with_a_credential_is_200() {
    let s = TestServer::start().await;
    V2::basic(&s.url, &s.admin_token).get("/v2/").await.expect(200);
    V2::bearer(&s.url, &s.admin_token).get("/v2/").await.expect(200);
}

// ---- Pull: manifests ----

/// spec.md:176 "A GET request to an existing manifest URL MUST provide the expected manifest, with a
/// response code that MUST be `200 OK`" (by tag and by digest); spec.md:153 a reference is a digest or
/// a tag. Suite: "GET request to manifest path (tag|digest) should yield 200 response".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_manifest_by_tag_and_by_digest_is_200_with_the_manifest() {
    let (_s, f, v2) = start().await;
    for p in [&f.signed, &f.plain, &f.rc] {
        for reference in [p.tag(), p.digest()] {
            let a = v2
                .send(
                    v2.request(Method::GET, &p.manifest_path(&reference))
                        .header("accept", MANIFEST_MEDIA_TYPE),
                )
                .await;
            a.expect(200);
            assert!(a.body == p.artifact.manifest, "{}", a.asked);
            // Asked by digest, the bytes hash to it (spec.md:183: clients verify this).
            assert_eq!(a.digest(), p.artifact.digest);
        }
    }
}

/// spec.md:180-182: `Docker-Content-Digest`, if present, is the digest of the returned manifest (and
/// clients that use it MUST verify it, so it must be right). Suite: "if h != "" Expect(h) == digest".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifests_docker_content_digest_is_its_digest() {
    let (_s, f, v2) = start().await;
    for reference in [f.signed.tag(), f.signed.digest(), "production".into()] {
        for method in [Method::GET, Method::HEAD] {
            let a = v2.call(method, &f.signed.manifest_path(&reference)).await;
            a.expect(200);
            if let Some(h) = a.header("docker-content-digest") {
                assert_eq!(h, f.signed.digest(), "{}", a.asked);
            }
        }
    }
}

/// spec.md:169-174: `Content-Type` is the manifest's type, without parameters (SHOULD NOT include
/// them), and clients SHOULD reject a manifest whose `mediaType` differs from it, so the two agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifests_content_type_is_its_media_type_without_parameters() {
    let (s, f, v2) = start().await;
    let referrer = referrers_of(&s.url, &s.admin_token, &f.signed).await.remove(0);
    for path in
        [f.signed.manifest_path(&f.signed.tag()), f.signed.manifest_path(&referrer.digest.to_string())]
    {
        let a = v2.get(&path).await;
        a.expect(200);
        let ct = a.header("content-type").unwrap();
        assert!(!ct.contains(';'), "{ct}");
        assert_eq!(a.json()["mediaType"].as_str(), Some(ct));
    }
}

/// spec.md:185 "If the manifest is not found in the repository, the response code MUST be `404 Not
/// Found`" (GET). Suite: "GET nonexistent manifest should return 404" with reference
/// `.INVALID_MANIFEST_NAME`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_a_missing_manifest_is_404() {
    let (_s, f, v2) = start().await;
    for reference in [".INVALID_MANIFEST_NAME".to_owned(), "nosuchtag".into(), dummy_digest()] {
        let a = v2.get(&f.signed.manifest_path(&reference)).await;
        assert_eq!(a.status, 404, "{a:?}");
        a.error();
    }
}

/// spec.md:153-154 "`<reference>` MUST be either (a) the digest of the manifest or (b) a tag. The
/// `<reference>` MUST NOT be in any other format." Suite ("Error codes"): `sha256:totallywrong` gives
/// 400 or 404, and a 400 carries a listed code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_that_is_neither_tag_nor_digest_is_400_or_404() {
    let (_s, f, v2) = start().await;
    let a = v2
        .send(
            v2.request(Method::GET, &f.signed.manifest_path("sha256:totallywrong"))
                .header("content-type", MANIFEST_MEDIA_TYPE)
                .body("blablabla"),
        )
        .await;
    assert!(a.status == 400 || a.status == 404, "{a:?}");
    a.error();
}

// ---- Pull: blobs ----

/// spec.md:194 "A GET request to an existing blob URL MUST provide the expected blob, with a response
/// code that MUST be `200 OK`"; spec.md:196 the `Docker-Content-Digest` of a blob, if present, MUST
/// match the body. Every layer and the config. Suite: "GET request to existing blob URL should yield 200".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_every_blob_of_a_manifest_is_200_with_bytes_matching_its_digest() {
    let (_s, f, v2) = start().await;
    let m = v2.get(&f.signed.manifest_path(&f.signed.tag())).await.json();
    let mut descriptors: Vec<Value> = m["layers"].as_array().unwrap().clone();
    descriptors.push(m["config"].clone());
    for d in descriptors {
        let digest = d["digest"].as_str().unwrap();
        let a = v2.get(&f.signed.blob_path(digest)).await;
        a.expect(200);
        assert_eq!(a.digest().to_string(), digest);
        assert_eq!(a.body.len() as u64, d["size"].as_u64().unwrap());
        if let Some(h) = a.header("docker-content-digest") {
            assert_eq!(h, digest);
        }
    }
}

/// spec.md:200 "If the blob is not found in the repository, the response code MUST be `404 Not
/// Found`". Suite: "GET nonexistent blob should result in 404 response" (`dummyDigest`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_a_missing_blob_is_404() {
    let (_s, f, v2) = start().await;
    // One never stored, and one stored for another repository only.
    for d in [dummy_digest(), Digest::of(&f.other.files[0].1).to_string()] {
        let a = v2.get(&f.signed.blob_path(&d)).await;
        assert_eq!(a.status, 404, "{a:?}");
        a.error();
    }
}

// ---- Pull: checking existence ----

/// spec.md:212 "A HEAD request to an existing blob or manifest URL MUST return `200 OK`"; spec.md:213-214
/// `Docker-Content-Digest` and `Content-Length` SHOULD be sent (and then must be right). Suite: "HEAD
/// request to existing blob should yield 200", "HEAD request to manifest path (digest|tag) ...".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_of_an_existing_manifest_or_blob_is_200() {
    let (_s, f, v2) = start().await;
    let p = &f.signed;
    let mut targets = vec![
        (p.manifest_path(&p.tag()), p.digest(), p.artifact.manifest.len()),
        (p.manifest_path(&p.digest()), p.digest(), p.artifact.manifest.len()),
        (
            p.blob_path(&p.artifact.config_digest.to_string()),
            p.artifact.config_digest.to_string(),
            p.artifact.config.len(),
        ),
    ];
    for (_, bytes) in &p.files {
        let d = Digest::of(bytes).to_string();
        targets.push((p.blob_path(&d), d, bytes.len()));
    }
    for (path, digest, size) in targets {
        let a = v2.head(&path).await;
        a.expect(200);
        assert!(a.body.is_empty());
        if let Some(h) = a.header("docker-content-digest") {
            assert_eq!(h, digest);
        }
        if let Some(h) = a.header("content-length") {
            assert_eq!(h, size.to_string());
        }
    }
}

/// spec.md:216 "If the blob or manifest is not found in the repository, the response code MUST be `404
/// Not Found`" (HEAD). Suite: "HEAD request to nonexistent blob/manifest should ... 404".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_of_a_missing_manifest_or_blob_is_404() {
    let (_s, f, v2) = start().await;
    for path in [
        f.signed.manifest_path(".INVALID_MANIFEST_NAME"),
        f.signed.manifest_path("nosuchtag"),
        f.signed.manifest_path(&dummy_digest()),
        f.signed.blob_path(&dummy_digest()),
    ] {
        v2.head(&path).await.expect(404);
    }
}

/// spec.md:491 "An attempt to pull a nonexistent repository MUST return response code `404 Not
/// Found`" (manifest, blob, tags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_from_a_nonexistent_repository_is_404() {
    let (_s, f, v2) = start().await;
    for path in [
        format!("/v2/fraud/nosuch/manifests/{}", f.signed.tag()),
        format!("/v2/fraud/nosuch/manifests/{}", f.signed.digest()),
        format!("/v2/fraud/nosuch/blobs/{}", Digest::of(&f.signed.files[0].1)),
        "/v2/fraud/nosuch/tags/list".into(),
    ] {
        let a = v2.get(&path).await;
        assert_eq!(a.status, 404, "{a:?}");
        a.error();
    }
}

// ---- Names and tags ----

/// spec.md:155 "`<name>` MUST match" the name expression: a model whose name the expression refuses
/// (`..`, or a trailing `-`, allowed by our own names) is not served under `/v2` (404 NAME_UNKNOWN,
/// docs/oci.md, Limits), while names that match are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_names_matching_the_spec_expression_are_repositories() {
    let s = TestServer::start().await;
    let c = client(&s);
    let v2 = V2::basic(&s.url, &s.admin_token);
    for (name, spec) in
        [("fraud/a..b", false), ("fraud/x-", false), ("fraud/x.y_z--w", true), ("fraud/a__b", true)]
    {
        assert_eq!(is_spec_name(name), spec, "{name}");
        TestPush::new(name, "1").run(&c).await.unwrap();
        let a = v2.get(&format!("/v2/{name}/tags/list")).await;
        if spec {
            a.expect(200);
            assert_eq!(a.json()["name"], name);
        } else {
            a.expect_error(404, "NAME_UNKNOWN");
        }
    }
}

/// spec.md:164 "`<reference>` as a tag MUST be at most 128 characters in length and MUST match"
/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`: every tag listed does, also for labels holding `+` and of the
/// longest length, and each names its manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_tag_matches_the_tag_expression_and_resolves() {
    let s = TestServer::start().await;
    let c = client(&s);
    let v2 = V2::basic(&s.url, &s.admin_token);
    let longest = format!("9+{}", "x".repeat(126));
    for label in ["1.0+cu121".to_owned(), "2.0.0-rc.1+build.7".into(), "A".into(), longest] {
        TestPush::new(MODEL, &label).run(&c).await.unwrap();
    }
    c.promote(&registry_core::ModelName::parse(MODEL).unwrap(), "champion_v2", &promote_req("1.0+cu121"))
        .await
        .unwrap();
    let tags = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list")).await.expect(200));
    assert_eq!(tags.len(), 5, "{tags:?}");
    for t in &tags {
        assert!(is_spec_tag(t), "{t}");
        v2.get(&format!("/v2/{MODEL}/manifests/{t}")).await.expect(200);
    }
}

// ---- Content discovery: tags ----

/// spec.md:521 "this request MUST return a `200 OK`"; spec.md:525 "the response MUST be a json body"
/// `{"name": "<name>", "tags": [...]}`. Suite: "GET request to list tags should yield 200 response".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_list_is_200_with_name_and_tags() {
    let (_s, f, v2) = start().await;
    let a = v2.get(&format!("/v2/{MODEL}/tags/list")).await;
    a.expect(200);
    let body = a.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["name"], MODEL);
    assert_eq!(tag_list(&a), f.tags());
}

/// main spec.md:568 "the tags MUST be in lexical ... or "ASCIIbetical" (Go's `sort.Strings`) order"
/// (v1.1.1 spec.md:523 said lexical only; main allows byte order, which we use): with upper and lower
/// case labels, digits and aliases, the list is sorted by bytes, also across pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_in_asciibetical_order_on_every_page() {
    let s = TestServer::start().await;
    let c = client(&s);
    let v2 = V2::basic(&s.url, &s.admin_token);
    for label in ["b", "B", "a", "Z-2", "10", "9", "1.0+x", "1.0"] {
        TestPush::new(MODEL, label).run(&c).await.unwrap();
    }
    c.promote(&registry_core::ModelName::parse(MODEL).unwrap(), "production", &promote_req("a"))
        .await
        .unwrap();
    let mut want: Vec<String> = ["b", "B", "a", "Z-2", "10", "9", "1.0_x", "1.0", "production"]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    want.sort();
    assert_eq!(want, ["1.0", "1.0_x", "10", "9", "B", "Z-2", "a", "b", "production"]);
    let all = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list")).await.expect(200));
    assert_eq!(all, want);
    // By pages of 2, following `last`.
    let mut seen: Vec<String> = vec![];
    loop {
        let q = match seen.last() {
            Some(l) => format!("?n=2&last={l}"),
            None => "?n=2".into(),
        };
        let page = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list{q}")).await.expect(200));
        if page.is_empty() {
            break;
        }
        seen.extend(page);
    }
    assert_eq!(seen, want);
}

/// spec.md:543-544 with `n`, fewer than n results only "when the total number of tags ... is less than
/// `<int>` or a `Link` header is provided. Otherwise, the response MUST include `<int>` results".
/// Suite: "GET number of tags should be limitable by `n` query parameter" (n = half the tags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_list_with_n_returns_n_unless_fewer_exist() {
    let (_s, f, v2) = start().await;
    let total = f.tags().len();
    for n in 1..=total + 2 {
        let a = v2.get(&format!("/v2/{MODEL}/tags/list?n={n}")).await;
        a.expect(200);
        let got = tag_list(&a).len();
        if got < n {
            assert!(got == total || a.header("link").is_some(), "n={n}: {got} tags, no Link");
        }
        assert_eq!(got, n.min(total), "n={n}");
    }
    assert_eq!(
        tag_list(v2.get(&format!("/v2/{MODEL}/tags/list?n={}", total / 2)).await.expect(200)).len(),
        total / 2
    );
}

/// spec.md:546 "If included, the `Link` header MUST be set according to RFC5988 with the Relation
/// Type `rel="next"`": its target, followed, gives the rest of the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_list_link_is_rfc5988_rel_next_and_leads_to_the_rest() {
    let (_s, f, v2) = start().await;
    let mut path = format!("/v2/{MODEL}/tags/list?n=3");
    let mut seen = vec![];
    loop {
        let a = v2.get(&path).await;
        a.expect(200);
        seen.extend(tag_list(&a));
        let Some(link) = a.header("link") else { break };
        // RFC 5988 §5: `<URI-Reference>; rel="next"`.
        let (target, params) = link.split_once(';').unwrap();
        let target = target.trim().strip_prefix('<').and_then(|t| t.strip_suffix('>')).unwrap();
        assert!(params.split(';').any(|p| p.trim() == r#"rel="next""#), "{link}");
        path = target.to_owned();
        assert!(seen.len() < 100, "paging does not end");
    }
    assert_eq!(seen, f.tags());
}

/// spec.md:547 "When `n` is zero, this endpoint MUST return an empty list, and MUST NOT include a
/// `Link` header."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_list_with_n_zero_is_empty_without_link() {
    let (_s, _f, v2) = start().await;
    for q in ["?n=0", "?n=0&last=2"] {
        let a = v2.get(&format!("/v2/{MODEL}/tags/list{q}")).await;
        a.expect(200);
        assert!(tag_list(&a).is_empty(), "{q}");
        assert_eq!(a.header("link"), None, "{q}");
    }
}

/// spec.md:556-558: with `last`, "up to `<int>` tags *after* `<tagname>`", `<tagname>` itself not
/// included, in order. Suite: "GET start of tag is set by `last` query parameter".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_list_with_last_starts_strictly_after_it() {
    let (_s, f, v2) = start().await;
    let all = f.tags();
    let half = all.len() / 2;
    let first = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list?n={half}")).await.expect(200));
    let last = &first[half - 1];
    let next = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list?n={half}&last={last}")).await.expect(200));
    assert!(next.len() <= half);
    assert!(!next.contains(last));
    assert_eq!(next, all[half..(2 * half).min(all.len())]);
    // `n` is optional with `last` (spec.md:560).
    for (i, t) in all.iter().enumerate() {
        let rest = tag_list(v2.get(&format!("/v2/{MODEL}/tags/list?last={t}")).await.expect(200));
        assert_eq!(rest, all[i + 1..], "last={t}");
    }
}

// ---- Content discovery: referrers ----

/// spec.md:576 "Assuming a repository is found, this request MUST return a `200 OK`"; spec.md:580-581
/// the body is an image index and "The `Content-Type` header MUST be set to
/// `application/vnd.oci.image.index.v1+json`". Suite: "GET request to existing blob should yield 200".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_are_200_with_an_image_index() {
    let (s, f, v2) = start().await;
    let a = v2.get(&f.signed.referrers_path()).await;
    a.expect(200);
    assert_eq!(a.header("content-type"), Some(INDEX_MEDIA_TYPE));
    let index = a.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], INDEX_MEDIA_TYPE);
    let n = referrers_of(&s.url, &s.admin_token, &f.signed).await.len();
    assert_eq!(index["manifests"].as_array().unwrap().len(), n);
    // Distinct descriptors (the suite checks the first two differ).
    let mut digests: Vec<&str> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), n);
}

/// spec.md:577 "the registry MUST NOT return a `404 Not Found` to a referrers API request";
/// spec.md:587 "If a query results in no matching referrers, an empty manifest list MUST be
/// returned". Suite: "GET request to nonexistent blob should result in empty 200 response" (with
/// `dummyDigest`; plan §1 also the zero digest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_of_a_digest_without_any_are_an_empty_index_never_404() {
    let (_s, f, v2) = start().await;
    let zero = format!("sha256:{}", "0".repeat(64));
    for d in [dummy_digest(), zero, f.rc.digest(), Digest::of(&f.signed.files[0].1).to_string()] {
        let a = v2.get(&format!("/v2/{MODEL}/referrers/{d}")).await;
        a.expect(200);
        assert_eq!(a.header("content-type"), Some(INDEX_MEDIA_TYPE));
        assert_eq!(a.json()["manifests"], serde_json::json!([]), "{d}");
    }
}

/// spec.md:578 "If the request is invalid, such as a `<digest>` with an invalid syntax, a `400 Bad
/// Request` MUST be returned."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_of_a_malformed_digest_are_400() {
    let (_s, _f, v2) = start().await;
    for d in ["sha256:totallywrong", "nodigest", "sha256:ABC", "md5:d41d8cd98f00b204e9800998ecf8427e"] {
        let a = v2.get(&format!("/v2/{MODEL}/referrers/{d}")).await;
        assert_eq!(a.status, 400, "{a:?}");
        a.error();
    }
}

/// spec.md:582 "Each descriptor is of an image manifest or index in the same `<name>` namespace with a
/// `subject` field that specifies the value of `<digest>`"; spec.md:583-584 its `artifactType` is the
/// manifest's (else the config's media type); spec.md:586 "The descriptors MUST include annotations
/// from the image manifest". Each descriptor is checked against the manifest it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_referrer_descriptor_matches_a_manifest_of_this_repository_about_the_subject() {
    let (_s, f, v2) = start().await;
    let index = v2.get(&f.signed.referrers_path()).await.json();
    let descriptors = index["manifests"].as_array().unwrap();
    assert!(!descriptors.is_empty());
    for d in descriptors {
        let digest = d["digest"].as_str().unwrap();
        let a = v2.get(&f.signed.manifest_path(digest)).await;
        a.expect(200);
        assert_eq!(a.digest().to_string(), digest);
        assert_eq!(d["mediaType"].as_str(), a.header("content-type"));
        assert_eq!(d["size"].as_u64(), Some(a.body.len() as u64));
        let m = a.json();
        assert_eq!(m["subject"]["digest"], f.signed.digest());
        let artifact_type =
            m.get("artifactType").cloned().unwrap_or_else(|| m["config"]["mediaType"].clone());
        assert_eq!(d["artifactType"], artifact_type);
        // All of the manifest's annotations, none other.
        assert_eq!(d["annotations"], m["annotations"]);
    }
}

/// spec.md:632 "If filtering is requested and applied, the response MUST include a header
/// `OCI-Filters-Applied: artifactType`", and then only that type is listed. Suite: "GET request to
/// existing blob with filter should yield 200".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_filtered_by_artifact_type_say_so_and_list_only_that_type() {
    let (s, f, v2) = start().await;
    let want = referrers_of(&s.url, &s.admin_token, &f.signed).await;
    let mut types: Vec<&str> = want.iter().map(|r| r.artifact_type.as_str()).collect();
    types.sort();
    types.dedup();
    assert!(types.len() >= 2, "{types:?}");
    for t in types.iter().copied().chain(["application/vnd.example.none"]) {
        let a =
            v2.send(v2.request(Method::GET, &f.signed.referrers_path()).query(&[("artifactType", t)])).await;
        a.expect(200);
        assert_eq!(a.header("content-type"), Some(INDEX_MEDIA_TYPE));
        assert_eq!(a.header("oci-filters-applied"), Some("artifactType"), "{t}");
        let listed = a.json()["manifests"].as_array().unwrap().clone();
        assert_eq!(listed.len(), want.iter().filter(|r| r.artifact_type == t).count(), "{t}");
        assert!(listed.iter().all(|d| d["artifactType"] == t));
    }
}

// ---- Content management, deletion disabled ----

/// spec.md:679 (tags), 690 (manifests), 710 (blobs): "If ... deletion is disabled, the registry MUST
/// respond with either a `400 Bad Request` or a `405 Method Not Allowed`." Suite teardown accepts
/// 2xx or 405 (404 for blobs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_tags_manifests_and_blobs_is_400_or_405() {
    let (_s, f, v2) = start().await;
    let p = &f.signed;
    for path in [
        p.manifest_path(&p.tag()),
        p.manifest_path("production"),
        p.manifest_path(&p.digest()),
        p.blob_path(&Digest::of(&p.files[0].1).to_string()),
        p.blob_path(&p.artifact.config_digest.to_string()),
    ] {
        let a = v2.call(Method::DELETE, &path).await;
        assert!(a.status == 400 || a.status == 405, "{a:?}");
        a.error();
    }
    v2.get(&p.manifest_path(&p.tag())).await.expect(200);
}

// ---- Errors and warnings ----

/// spec.md:788-808: a JSON 4xx body MUST be `{"errors":[{"code","message","detail"}]}`, each `code`
/// only uppercase letters and underscores and one of the listed codes. Every kind of 4xx this registry
/// gives, on every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_4xx_json_body_has_the_spec_shape_and_a_listed_code() {
    let (s, f, v2) = start().await;
    let pusher = V2::basic(&s.url, &s.token("pusher", &[registry_core::auth::Scope::Push], "fraud/*").await);
    let none = V2::anonymous(&s.url);
    let p = &f.signed;
    let answers = vec![
        none.get("/v2/").await,
        none.get(&p.manifest_path(&p.tag())).await,
        none.get("/v2/token").await,
        pusher.get(&format!("/v2/{MODEL}/tags/list")).await,
        v2.get(&p.manifest_path("nosuchtag")).await,
        v2.get(&p.manifest_path("sha256:totallywrong")).await,
        v2.get(&p.blob_path(&dummy_digest())).await,
        v2.get(&p.blob_path("sha256:nothex")).await,
        v2.get(&format!("/v2/{MODEL}/referrers/sha256:nothex")).await,
        v2.get(&format!("/v2/{MODEL}/tags/list?n=abc")).await,
        v2.get("/v2/fraud/nosuch/tags/list").await,
        v2.get("/v2/_catalog").await,
        v2.call(Method::POST, &format!("/v2/{MODEL}/blobs/uploads/")).await,
        v2.call(Method::PUT, &p.manifest_path("x")).await,
        v2.call(Method::DELETE, &p.manifest_path(&p.tag())).await,
    ];
    for a in &answers {
        let (_, code, _) = a.error();
        assert!(code.bytes().all(|c| c.is_ascii_uppercase() || c == b'_'), "{code}");
        assert!(ERROR_CODES.contains(&code.as_str()));
    }
}

/// spec.md:831-833: `Warning` headers, if any, use warn-code 299 and warn-agent `-`, no date, and at
/// most 4096 bytes in all. Checked on an answer of every route, success and failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_if_any_are_299_and_at_most_4096_bytes() {
    let (_s, f, v2) = start().await;
    let p = &f.signed;
    for path in [
        "/v2/".to_owned(),
        "/v2/token".into(),
        p.manifest_path(&p.tag()),
        p.manifest_path("nosuchtag"),
        p.blob_path(&Digest::of(&p.files[0].1).to_string()),
        p.blob_path(&dummy_digest()),
        format!("/v2/{MODEL}/tags/list?n=1"),
        p.referrers_path(),
    ] {
        let a = v2.get(&path).await;
        let warnings = a.headers_all("warning");
        assert!(warnings.iter().map(|w| w.len()).sum::<usize>() <= 4096, "{a:?}");
        for w in warnings {
            assert!(w.starts_with("299 - \"") && w.ends_with('"'), "{w}");
        }
    }
}
