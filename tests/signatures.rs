//! HTTP signatures on the inboxes, against a real `placard serve` and a fake remote server (`FakeRemote`) that
//! signs as Mastodon (draft-cavage) and Fedify (RFC 9421) do: what is accepted and stored, what is refused
//! (and that a refusal stores nothing), duplicates, and how remote keys are fetched and re-fetched.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::time::{Duration, SystemTime};

use common::*;
use remote::*;
use serde_json::{Value, json};

const SETTINGS: &str = "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\nlease_seconds = 5\n";

/// A site with private addresses allowed, a local actor `alice`, and a running server.
struct Node {
    site: Site,
    server: Server,
    db: sqlx::AnyPool,
}

impl Node {
    async fn start(site: Site) -> Node {
        append_settings(&site, SETTINGS);
        site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
        let server = site.serve().await;
        let db = site.db().await;
        Node { site, server, db }
    }

    fn alice(&self) -> String {
        self.site.url("/users/alice")
    }

    fn inbox(&self) -> String {
        self.site.url("/users/alice/inbox")
    }

    fn shared_inbox(&self) -> String {
        self.site.url("/inbox")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.site.cli_ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    fn thread(&self, post: &str) -> Value {
        self.json(&["thread", post, "--json"])
    }

    fn followers(&self, name: &str) -> Vec<String> {
        self.json(&["followers", name, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn post(&self, text: &str) -> String {
        self.site
            .cli_ok(&["post", "alice", text])
            .trim()
            .to_string()
    }

    fn public_key_pem(&self, name: &str) -> String {
        self.json(&["actor", "show", name, "--json"])["public_key_pem"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Row counts of every table an accepted activity writes to (actors aside: fetching a signer's key
    /// caches it, whatever the request's fate).
    async fn counts(&self) -> Vec<(&'static str, i64)> {
        let mut out = vec![];
        for table in [
            "posts",
            "follows",
            "interactions",
            "received_activities",
            "activities",
            "deliveries",
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.db)
                .await
                .unwrap();
            out.push((table, n));
        }
        out
    }

    fn log(&self) -> String {
        self.server.log()
    }
}

/// Adds settings after the `[admin]` section of the site's config file.
fn append_settings(site: &Site, extra: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&site.config_path)
        .unwrap();
    writeln!(f, "{extra}").unwrap();
}

fn status(r: &reqwest::Response) -> u16 {
    r.status().as_u16()
}

// ---------------------------------------------------------------------------------------------------------
// Accepted

/// A draft-cavage signed Follow, to the actor's inbox and to the shared inbox: 202, the follower is listed, and
/// the Accept that comes back is signed with the local actor's key (both directions of signing).
async fn follow_signed_draft_cavage_is_accepted_and_answered(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    let ann = remote.add_actor("ann");
    let amy = remote.add_actor("amy");

    let follow_ann = remote.follow("ann", &node.alice());
    let r = remote
        .sign_and_post("ann", &node.inbox(), &follow_ann)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    let follow_amy = remote.follow("amy", &node.alice());
    let r = remote
        .sign_and_post("amy", &node.shared_inbox(), &follow_amy)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());

    let followers = node.followers("alice");
    assert!(followers.contains(&ann), "{followers:?}");
    assert!(followers.contains(&amy), "{followers:?}");
    assert_eq!(followers.len(), 2, "{followers:?}");

    let alice_pem = node.public_key_pem("alice");
    for (name, follow) in [("ann", &follow_ann), ("amy", &follow_amy)] {
        let accepts = remote
            .wait_for_n(
                &remote.inbox_path(name),
                "Accept",
                1,
                Duration::from_secs(15),
            )
            .await;
        assert_eq!(accepts.len(), 1, "one Accept for {name}");
        let accept = &accepts[0];
        let key_id = accept.verify(&alice_pem).unwrap_or_else(|e| {
            panic!(
                "the Accept to {name} does not verify with alice's key: {e}\n{:?}",
                accept.headers
            )
        });
        assert_eq!(key_id, format!("{}#main-key", node.alice()));
        let body = accept.json();
        assert_eq!(body["actor"], node.alice());
        assert_eq!(body["object"]["id"], follow["id"]);
        assert_eq!(body["object"]["actor"], remote.actor_url(name));
        // The same request does not verify with another key.
        assert!(accept.verify(&remote.public_key_pem(name)).is_err());
        // Nor once its body is changed.
        let mut tampered = accept.clone();
        let mut body = accept.body.to_vec();
        body.push(b' ');
        tampered.body = body.into();
        assert!(tampered.verify(&alice_pem).is_err());
    }
    // The remote's key was fetched once per actor, with a signed GET.
    assert_eq!(remote.actor_fetches("ann"), 1);
    assert_eq!(remote.actor_fetches("amy"), 1);
}

/// RFC 9421 signed activities (as Fedify sends them first): a Like to the actor's inbox and a reply to the
/// shared inbox are both accepted and stored.
async fn rfc9421_like_and_reply_are_stored(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Hello from the campaign");
    let remote = FakeRemote::start().await;
    remote.add_actor("bob");

    let like = remote.like("bob", &post);
    let r = remote
        .sign_and_post_rfc9421("bob", &node.inbox(), &like)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    assert_eq!(node.thread(&post)["likes"], 1);

    let note = remote.note("bob", &post, "Count me in");
    let note_id = note["id"].as_str().unwrap().to_string();
    let create = remote.create("bob", note);
    let r = remote
        .sign_and_post_rfc9421("bob", &node.shared_inbox(), &create)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    let thread = node.thread(&post);
    let replies = thread["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "{thread:#}");
    assert_eq!(replies[0]["id"], note_id);
    assert_eq!(replies[0]["author"], format!("@bob@{}", remote.host()));
    assert!(
        replies[0]["content"]
            .as_str()
            .unwrap()
            .contains("Count me in")
    );
    assert_eq!(remote.actor_fetches("bob"), 1, "bob's key fetched once");
}

// ---------------------------------------------------------------------------------------------------------
// Refused

/// One forged or broken request: what to send, where, and the statuses it may be answered with.
struct Case {
    name: &'static str,
    actor: &'static str,
    body: Vec<u8>,
    opts: PostOptions,
    expect: &'static [u16],
}

/// Sends each case to both inboxes and checks that it is refused with the expected status and that nothing
/// was stored.
async fn refuse_all(node: &Node, remote: &FakeRemote, cases: Vec<Case>) {
    let before = node.counts().await;
    for case in cases {
        for url in [node.inbox(), node.shared_inbox()] {
            let r = remote
                .post(case.actor, &url, case.body.clone(), &case.opts)
                .await;
            let got = status(&r);
            let text = r.text().await.unwrap_or_default();
            eprintln!("{}: {url} -> {got} {text}", case.name);
            assert!(
                case.expect.contains(&got),
                "{}: POST {url} answered {got} ({text}), expected one of {:?}\n{}",
                case.name,
                case.expect,
                node.log()
            );
            assert_eq!(
                node.counts().await,
                before,
                "{}: a refused request changed the database",
                case.name
            );
        }
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Every way of breaking a signature is 401, and nothing is stored; the same actor's well-signed Like then
/// goes through (so the refusals were about the signatures, not the setup).
async fn forged_signatures_are_refused_and_store_nothing(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Sign the petition");
    let remote = FakeRemote::start().await;
    remote.add_actor("eve");
    let thread_before = node.thread(&post);

    let like = |remote: &FakeRemote| bytes(&remote.like("eve", &post));
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let mut cases = vec![];
    let mut case = |name, opts: PostOptions| {
        cases.push(Case {
            name,
            actor: "eve",
            body: like(&remote),
            opts,
            expect: &[401],
        })
    };
    case("no signature", PostOptions::unsigned());
    case(
        "body changed after signing (digest mismatch)",
        PostOptions {
            body_after_signing: Some(like(&remote)),
            ..Default::default()
        },
    );
    {
        // The body swapped and its Digest recomputed, the signature left as it was.
        let other = like(&remote);
        case(
            "body and digest changed after signing",
            PostOptions {
                set_headers: vec![(
                    "digest".into(),
                    placard::federation::signatures::sha256_digest_header(&other),
                )],
                body_after_signing: Some(other),
                ..Default::default()
            },
        );
    }
    case(
        "digest header dropped",
        PostOptions {
            drop_headers: vec!["digest".into()],
            ..Default::default()
        },
    );
    case(
        "signed Host changed in transit",
        PostOptions {
            set_headers: vec![("host".into(), "localhost:1".into())],
            ..Default::default()
        },
    );
    case(
        "signed for another host",
        PostOptions {
            sign_for_url: Some("http://localhost:1/users/alice/inbox".into()),
            ..Default::default()
        },
    );
    case(
        "signed Date changed in transit",
        PostOptions {
            set_headers: vec![(
                "date".into(),
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5)),
            )],
            ..Default::default()
        },
    );
    case(
        "covered headers without digest",
        PostOptions::covering(Scheme::DraftCavage, &["(request-target)", "host", "date"]),
    );
    case(
        "covered headers without (request-target)",
        PostOptions::covering(Scheme::DraftCavage, &["host", "date", "digest"]),
    );
    case(
        "covered headers without host",
        PostOptions::covering(Scheme::DraftCavage, &["(request-target)", "date", "digest"]),
    );
    case(
        "covered headers without date",
        PostOptions::covering(Scheme::DraftCavage, &["(request-target)", "host", "digest"]),
    );
    case(
        "Date 13 hours old",
        PostOptions {
            time: Some(SystemTime::now() - hours(13)),
            ..Default::default()
        },
    );
    case(
        "Date 2 hours ahead",
        PostOptions {
            time: Some(SystemTime::now() + hours(2)),
            ..Default::default()
        },
    );
    case(
        "signed with a key that is not the actor's",
        PostOptions {
            key: Some(stray_key()),
            ..Default::default()
        },
    );
    case(
        "RFC 9421 without content-digest covered",
        PostOptions::covering(Scheme::Rfc9421, &["@method", "@target-uri"]),
    );
    case(
        "RFC 9421 without @target-uri covered",
        PostOptions::covering(Scheme::Rfc9421, &["@method", "content-digest"]),
    );
    case(
        "RFC 9421 body changed after signing",
        PostOptions {
            body_after_signing: Some(like(&remote)),
            ..PostOptions::rfc9421()
        },
    );
    case(
        "RFC 9421 created 13 hours ago",
        PostOptions {
            time: Some(SystemTime::now() - hours(13)),
            ..PostOptions::rfc9421()
        },
    );
    case(
        "RFC 9421 signed for another target",
        PostOptions {
            sign_for_url: Some(format!("{}/users/nobody/inbox", node.site.base())),
            ..PostOptions::rfc9421()
        },
    );
    case(
        "RFC 9421 signed with a key that is not the actor's",
        PostOptions {
            key: Some(stray_key()),
            ..PostOptions::rfc9421()
        },
    );
    case(
        "an algorithm other than RSA",
        PostOptions {
            algorithm: Some("hmac-sha256".into()),
            ..PostOptions::covering(
                Scheme::DraftCavage,
                &["(request-target)", "host", "date", "digest"],
            )
        },
    );
    case(
        "RFC 9421 with an algorithm other than rsa-v1_5-sha256",
        PostOptions {
            algorithm: Some("ecdsa-p256-sha256".into()),
            ..PostOptions::covering(
                Scheme::Rfc9421,
                &["@method", "@target-uri", "content-digest"],
            )
        },
    );
    refuse_all(&node, &remote, cases).await;
    assert_eq!(node.thread(&post), thread_before);

    // The controls: the same actor, signing properly, is accepted — with Placard's signer and with the
    // test's own signer covering every required component (so the refusals above were about what they
    // changed, not about the signer).
    let r = remote
        .sign_and_post("eve", &node.inbox(), &remote.like("eve", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    assert_eq!(node.thread(&post)["likes"], 1);
    let controls = [
        PostOptions::covering(
            Scheme::DraftCavage,
            &["(request-target)", "host", "date", "digest"],
        ),
        PostOptions::covering(
            Scheme::DraftCavage,
            &["(request-target)", "host", "date", "digest", "content-type"],
        ),
        PostOptions::covering(
            Scheme::Rfc9421,
            &["@method", "@target-uri", "content-digest"],
        ),
        PostOptions::covering(
            Scheme::Rfc9421,
            &["@method", "@authority", "@path", "content-digest"],
        ),
        // hs2019 (what Mastodon and GoToSocial name their RSA signatures nowadays).
        PostOptions {
            algorithm: Some("hs2019".into()),
            ..PostOptions::covering(
                Scheme::DraftCavage,
                &["(request-target)", "host", "date", "digest"],
            )
        },
    ];
    for (i, opts) in controls.iter().enumerate() {
        let create = remote.create("eve", remote.note("eve", &post, &format!("control {i}")));
        let url = if i % 2 == 0 {
            node.inbox()
        } else {
            node.shared_inbox()
        };
        let r = remote.post("eve", &url, bytes(&create), opts).await;
        assert_eq!(
            status(&r),
            202,
            "control {i}: {:?}\n{}",
            r.text().await,
            node.log()
        );
    }
    assert_eq!(
        node.thread(&post)["replies"].as_array().unwrap().len(),
        controls.len()
    );
}

/// An actor speaking for another actor or another origin is refused (401 or 403), and nothing is stored.
async fn forged_origins_are_refused_and_store_nothing(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Our next meeting");
    let remote = FakeRemote::start().await;
    let other = FakeRemote::start().await;
    remote.add_actor("mallory");
    let victim = remote.add_actor("victim");
    other.add_actor("carol");
    let thread_before = node.thread(&post);

    let mut cases = vec![];
    // Signed by mallory, claiming to be victim (same origin).
    let mut like = remote.like("mallory", &post);
    like["actor"] = json!(victim);
    cases.push(Case {
        name: "signed by one actor, activity of another",
        actor: "mallory",
        body: bytes(&like),
        opts: PostOptions::default(),
        expect: &[401, 403],
    });
    let mut follow = remote.follow("mallory", &node.alice());
    follow["actor"] = json!(other.actor_url("carol"));
    follow["id"] = json!(other.new_id("follows"));
    cases.push(Case {
        name: "signed by one actor, Follow by an actor of another server",
        actor: "mallory",
        body: bytes(&follow),
        opts: PostOptions::rfc9421(),
        expect: &[401, 403],
    });
    // A Create by mallory of a note attributed to victim.
    let mut note = remote.note("mallory", &post, "I take it back");
    note["attributedTo"] = json!(victim);
    cases.push(Case {
        name: "Create of a note attributed to another actor",
        actor: "mallory",
        body: bytes(&remote.create("mallory", note)),
        opts: PostOptions::default(),
        expect: &[403],
    });
    // A Create by mallory of a note whose id is on another server.
    let mut note = remote.note("mallory", &post, "Spoofed");
    note["id"] = json!(other.new_id("notes"));
    let mut create = remote.create("mallory", note);
    create["id"] = json!(remote.new_id("activities"));
    cases.push(Case {
        name: "Create of a note with an id on another origin",
        actor: "mallory",
        body: bytes(&create),
        opts: PostOptions::rfc9421(),
        expect: &[403],
    });
    // An activity id on another origin than its actor.
    let mut like = remote.like("mallory", &post);
    like["id"] = json!(other.new_id("likes"));
    cases.push(Case {
        name: "activity id on another origin",
        actor: "mallory",
        body: bytes(&like),
        opts: PostOptions::default(),
        expect: &[401, 403],
    });
    // A local actor's activity from outside.
    let mut like = remote.like("mallory", &post);
    like["actor"] = json!(node.alice());
    like["id"] = json!(node.site.url("/activities/forged"));
    cases.push(Case {
        name: "activity claiming a local actor",
        actor: "mallory",
        body: bytes(&like),
        opts: PostOptions::default(),
        expect: &[401, 403],
    });
    refuse_all(&node, &remote, cases).await;
    assert_eq!(node.thread(&post), thread_before);
    assert!(node.followers("alice").is_empty());

    // The control: mallory speaking for herself is fine.
    let create = remote.create("mallory", remote.note("mallory", &post, "Hello"));
    let r = remote
        .sign_and_post("mallory", &node.inbox(), &create)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    assert_eq!(
        node.thread(&post)["replies"].as_array().unwrap().len(),
        1,
        "the control reply is stored"
    );
}

/// Requests that are not activities at all: malformed JSON 400, a wrong content type 415, a body over 1 MiB
/// 413, an unknown actor's inbox 404, a suspended actor's 410. Nothing is stored.
async fn malformed_requests_are_refused_and_store_nothing(site: Site) {
    let node = Node::start(site).await;
    node.site
        .cli_ok(&["actor", "create", "suzy", "--kind", "person"]);
    node.site.cli_ok(&["actor", "suspend", "suzy"]);
    let post = node.post("Read our report");
    let remote = FakeRemote::start().await;
    remote.add_actor("zed");
    let thread_before = node.thread(&post);

    let mut padded = remote.like("zed", &post);
    padded["padding"] = json!("x".repeat(1024 * 1024 + 16));
    let cases = vec![
        Case {
            name: "malformed JSON",
            actor: "zed",
            body: b"{\"type\": \"Like\", \"actor\": ".to_vec(),
            opts: PostOptions::default(),
            expect: &[400],
        },
        Case {
            name: "a JSON array",
            actor: "zed",
            body: b"[1, 2, 3]".to_vec(),
            opts: PostOptions::default(),
            expect: &[400],
        },
        Case {
            name: "wrong content type",
            actor: "zed",
            body: bytes(&remote.like("zed", &post)),
            opts: PostOptions {
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            expect: &[415],
        },
    ];
    refuse_all(&node, &remote, cases).await;

    // A body over 1 MiB is refused from its Content-Length, before it is read: send only the headers on a raw
    // connection and read the answer (sending the whole body races the server's early close).
    let before = node.counts().await;
    for path in ["/users/alice/inbox", "/inbox"] {
        let answer = headers_only_post(node.site.port, path, padded.to_string().len()).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "POST {path} of an oversized body: {answer}"
        );
    }
    assert_eq!(
        node.counts().await,
        before,
        "an oversized body stored something"
    );

    let before = node.counts().await;
    for (path, expect) in [("/users/nobody/inbox", 404), ("/users/suzy/inbox", 410)] {
        let url = node.site.url(path);
        let follow = remote.follow("zed", &node.site.url(&path.replace("/inbox", "")));
        let r = remote.sign_and_post("zed", &url, &follow).await;
        assert_eq!(status(&r), expect, "POST {path}: {:?}", r.text().await);
        let like = remote.like("zed", &post);
        let r = remote.sign_and_post_rfc9421("zed", &url, &like).await;
        assert_eq!(status(&r), expect, "POST {path}: {:?}", r.text().await);
        assert_eq!(node.counts().await, before, "{path} stored something");
    }
    assert_eq!(node.thread(&post), thread_before);
    assert!(node.followers("alice").is_empty());
}

// ---------------------------------------------------------------------------------------------------------
// Duplicates and keys

/// The same activity sent twice (or through both inboxes) is answered 2xx each time and processed once.
async fn same_activity_twice_is_processed_once(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Twice?");
    let remote = FakeRemote::start().await;
    let dan = remote.add_actor("dan");

    let like = remote.like("dan", &post);
    for url in [node.inbox(), node.inbox(), node.shared_inbox()] {
        let r = remote.sign_and_post("dan", &url, &like).await;
        assert!(
            r.status().is_success(),
            "{}: {:?}",
            r.status(),
            r.text().await
        );
    }
    assert_eq!(node.thread(&post)["likes"], 1);

    let create = remote.create("dan", remote.note("dan", &post, "Once"));
    for url in [node.shared_inbox(), node.inbox()] {
        let r = remote.sign_and_post_rfc9421("dan", &url, &create).await;
        assert!(
            r.status().is_success(),
            "{}: {:?}",
            r.status(),
            r.text().await
        );
    }
    assert_eq!(node.thread(&post)["replies"].as_array().unwrap().len(), 1);

    let follow = remote.follow("dan", &node.alice());
    for _ in 0..2 {
        let r = remote.sign_and_post("dan", &node.inbox(), &follow).await;
        assert!(
            r.status().is_success(),
            "{}: {:?}",
            r.status(),
            r.text().await
        );
    }
    assert_eq!(node.followers("alice"), vec![dan]);
    remote
        .wait_for_n(
            &remote.inbox_path("dan"),
            "Accept",
            1,
            Duration::from_secs(15),
        )
        .await;
    // Give a second Accept, if one was queued, the time to arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        remote
            .received_of(&remote.inbox_path("dan"), "Accept")
            .len(),
        1,
        "the Follow was processed once: one Accept"
    );
}

/// A remote key rotation: after a verified request the key is cached; once the remote rotates its key, a request
/// signed with the new one is accepted after one re-fetch. Bad signatures after that re-fetch at most once per
/// interval, however many arrive.
async fn rotated_remote_key_is_refetched_once(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Rotate");
    let remote = FakeRemote::start().await;
    remote.add_actor("rob");
    remote.add_actor("rae");

    let r = remote
        .sign_and_post("rob", &node.inbox(), &remote.like("rob", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("rob"), 1);
    // Cached: a second request fetches nothing.
    let create = remote.create("rob", remote.note("rob", &post, "before the rotation"));
    let r = remote.sign_and_post("rob", &node.inbox(), &create).await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("rob"), 1);

    remote.rotate_key("rob");
    let create = remote.create("rob", remote.note("rob", &post, "after the rotation"));
    let r = remote
        .sign_and_post_rfc9421("rob", &node.shared_inbox(), &create)
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());
    assert_eq!(remote.actor_fetches("rob"), 2, "re-fetched once");
    assert_eq!(node.thread(&post)["replies"].as_array().unwrap().len(), 2);
    // The new key is now the cached one.
    let r = remote
        .sign_and_post("rob", &node.inbox(), &remote.follow("rob", &node.alice()))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("rob"), 2);

    // A flood of bad signatures (the old key, a stray key) re-fetches at most once.
    for i in 0..6 {
        let key = if i % 2 == 0 {
            remote.previous_key("rob")
        } else {
            stray_key()
        };
        let r = remote
            .post(
                "rob",
                &node.inbox(),
                bytes(&remote.like("rob", &post)),
                &PostOptions {
                    key: Some(key),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(status(&r), 401, "{:?}", r.text().await);
    }
    assert!(
        remote.actor_fetches("rob") <= 3,
        "bad signatures re-fetched the key {} times",
        remote.actor_fetches("rob") - 2
    );

    // The same for an actor whose first re-fetch is caused by the flood itself.
    let r = remote
        .sign_and_post("rae", &node.inbox(), &remote.like("rae", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("rae"), 1);
    for _ in 0..6 {
        let r = remote
            .post(
                "rae",
                &node.shared_inbox(),
                bytes(&remote.like("rae", &post)),
                &PostOptions {
                    key: Some(stray_key()),
                    ..PostOptions::rfc9421()
                },
            )
            .await;
        assert_eq!(status(&r), 401, "{:?}", r.text().await);
    }
    assert!(
        remote.actor_fetches("rae") <= 2,
        "6 bad signatures re-fetched the key {} times",
        remote.actor_fetches("rae") - 1
    );
    assert_eq!(
        node.thread(&post)["likes"],
        2,
        "rob's and rae's first likes"
    );
}

/// An unknown sender's key is fetched once, however many of its requests follow.
async fn unknown_key_is_fetched_once(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Fetch once");
    let remote = FakeRemote::start().await;
    remote.add_actor("una");
    for i in 0..4 {
        let url = if i % 2 == 0 {
            node.inbox()
        } else {
            node.shared_inbox()
        };
        let like = remote.like("una", &post);
        let r = if i < 2 {
            remote.sign_and_post("una", &url, &like).await
        } else {
            remote.sign_and_post_rfc9421("una", &url, &like).await
        };
        assert_eq!(status(&r), 202, "{:?}", r.text().await);
    }
    assert_eq!(remote.actor_fetches("una"), 1);
    // Also after a restart: the key is in the database.
    let mut server = node.server;
    server.kill9();
    let node = Node {
        server: node.site.serve().await,
        ..node
    };
    let r = remote
        .sign_and_post("una", &node.inbox(), &remote.follow("una", &node.alice()))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("una"), 1);
}

/// Several requests at once from a sender never seen before cause one fetch of its key, not one each.
async fn unknown_key_is_fetched_once_under_concurrency(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Fetch once, at once");
    let remote = FakeRemote::start().await;
    remote.add_actor("cat");
    let sends = (0..6).map(|i| {
        let like = remote.like("cat", &post);
        let url = if i % 2 == 0 {
            node.inbox()
        } else {
            node.shared_inbox()
        };
        let remote = &remote;
        async move { remote.sign_and_post("cat", &url, &like).await.status() }
    });
    let statuses = futures_join_all(sends).await;
    assert!(statuses.iter().all(|s| s.as_u16() == 202), "{statuses:?}");
    // Likes count once per actor and post.
    assert_eq!(node.thread(&post)["likes"], 1);
    assert_eq!(
        remote.actor_fetches("cat"),
        1,
        "6 simultaneous requests from an unknown sender fetched its key {} times",
        remote.actor_fetches("cat")
    );
}

/// A simultaneous flood of badly signed requests from a known sender re-fetches its key at most once.
async fn bad_signature_flood_refetches_once_under_concurrency(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Flood");
    let remote = FakeRemote::start().await;
    remote.add_actor("fox");
    let r = remote
        .sign_and_post("fox", &node.inbox(), &remote.like("fox", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(remote.actor_fetches("fox"), 1);
    let key = stray_key();
    let sends = (0..8).map(|i| {
        let body = bytes(&remote.like("fox", &post));
        let url = if i % 2 == 0 {
            node.inbox()
        } else {
            node.shared_inbox()
        };
        let opts = PostOptions {
            key: Some(key.clone()),
            ..Default::default()
        };
        let remote = &remote;
        async move { remote.post("fox", &url, body, &opts).await.status() }
    });
    let statuses = futures_join_all(sends).await;
    assert!(statuses.iter().all(|s| s.as_u16() == 401), "{statuses:?}");
    assert!(
        remote.actor_fetches("fox") <= 2,
        "8 simultaneous bad signatures re-fetched the key {} times",
        remote.actor_fetches("fox") - 1
    );
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

on_both_databases!(
    follow_signed_draft_cavage_is_accepted_and_answered,
    rfc9421_like_and_reply_are_stored,
    forged_signatures_are_refused_and_store_nothing,
    forged_origins_are_refused_and_store_nothing,
    malformed_requests_are_refused_and_store_nothing,
    same_activity_twice_is_processed_once,
    rotated_remote_key_is_refetched_once,
    unknown_key_is_fetched_once,
    unknown_key_is_fetched_once_under_concurrency,
    bad_signature_flood_refetches_once_under_concurrency,
);

/// Sends the head of a POST announcing `len` bytes of JSON (and no body), and returns the raw answer.
async fn headers_only_post(port: u16, path: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/activity+json\r\n\
         Connection: close\r\nContent-Length: {len}\r\n\r\n{{"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}
