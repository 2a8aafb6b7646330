//! The batched writes of the hot paths, through the library on both databases: the inbox's post writer (group
//! commit), multi-row queueing of a fan-out in host round-robin order, batched delivery bookkeeping, deferring
//! an unreachable host, and the counts of an outbox page in one statement.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use placard::db::posts::NewPost;
use placard::db::{Db, deliveries, now_ms, posts};
use placard::federation::writer::{PostWriter, Stored};

async fn db_of(site: &Site) -> Db {
    let db = Db::connect(&site.database_url, 8).await.unwrap();
    db.migrate().await.unwrap();
    db
}

/// A remote actor row, inserted directly; its id.
async fn remote_actor(db: &Db, name: &str) -> i64 {
    let id = format!("https://remote.example/users/{name}");
    sqlx::query(
        "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, inbox_url, public_key_id, \
         public_key_pem, created_at, updated_at) VALUES ($1, 0, 'Person', $2, $3, 'remote.example', $4, $5, 'x', $6, $7)",
    )
    .bind(&id)
    .bind(name)
    .bind(name)
    .bind(format!("{id}/inbox"))
    .bind(format!("{id}#main-key"))
    .bind(now_ms())
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query_scalar("SELECT id FROM actors WHERE ap_id = $1")
        .bind(&id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn note(author_id: i64, n: &str, in_reply_to: Option<&str>, parent_id: Option<i64>) -> NewPost {
    NewPost {
        ap_id: format!("https://remote.example/notes/{n}"),
        local: false,
        kind: "Note".into(),
        author_id,
        content: format!("<p>note {n}</p>"),
        source: None,
        summary: None,
        sensitive: false,
        visibility: "public".into(),
        in_reply_to: in_reply_to.map(str::to_string),
        parent_id,
        context: Some(format!("https://remote.example/contexts/{n}")),
        url: None,
        published_at: now_ms(),
        to_json: "[]".into(),
        cc_json: "[]".into(),
        tags_json: "[]".into(),
        attachments_json: "[]".into(),
    }
}

/// A stored `Create` activity of `actor` (something for deliveries to belong to); its row id.
async fn activity_of(db: &Db, actor: i64, ap_id: &str) -> i64 {
    let mut tx = db.begin_write().await.unwrap();
    let id = placard::db::activities::insert(&mut tx, ap_id, actor, "Create", None, "{}")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

/// Many concurrent posts are stored in batches; every answer matches what was committed: new posts once,
/// the same activity twice or the same post under two activities as duplicates, a reply that arrived before
/// its parent linked under it, and one bad post failing alone.
async fn post_writer_group_commit(site: Site) {
    let db = db_of(&site).await;
    let author = remote_actor(&db, "writer").await;
    let writer = Arc::new(PostWriter::default());

    // A root stored first; an orphan reply to a post that arrives later, in the concurrent wave.
    let root = writer
        .store(
            &db,
            Some("https://remote.example/act/root".into()),
            note(author, "root", None, None),
        )
        .await
        .unwrap();
    assert_eq!(root, Stored::New);
    let root_row = posts::find_by_ap_id(&db, "https://remote.example/notes/root")
        .await
        .unwrap()
        .unwrap();
    let orphan = writer
        .store(
            &db,
            Some("https://remote.example/act/orphan".into()),
            note(
                author,
                "orphan",
                Some("https://remote.example/notes/late-parent"),
                None,
            ),
        )
        .await
        .unwrap();
    assert_eq!(orphan, Stored::New);

    // The wave: 300 replies to the root, each sent twice under the same activity id; 20 posts sent under two
    // different activity ids; the late parent; and one post by an author that does not exist.
    let mut jobs = Vec::new();
    for i in 0..300 {
        for _ in 0..2 {
            jobs.push((
                format!("https://remote.example/act/r{i}"),
                note(
                    author,
                    &format!("r{i}"),
                    Some(&root_row.ap_id),
                    Some(root_row.id),
                ),
                author,
            ));
        }
    }
    for i in 0..20 {
        for a in ["a", "b"] {
            jobs.push((
                format!("https://remote.example/act/twice{i}{a}"),
                note(author, &format!("twice{i}"), None, None),
                author,
            ));
        }
    }
    jobs.push((
        "https://remote.example/act/late-parent".into(),
        note(author, "late-parent", None, None),
        author,
    ));
    jobs.push((
        "https://remote.example/act/bad".into(),
        note(i64::MAX, "bad", None, None),
        i64::MAX,
    ));
    let mut handles = Vec::new();
    for (activity, post, author_id) in jobs {
        let (db, writer) = (db.clone(), writer.clone());
        handles.push(tokio::spawn(async move {
            let ap_id = post.ap_id.clone();
            (
                ap_id,
                author_id,
                writer.store(&db, Some(activity), post).await,
            )
        }));
    }
    let mut new = HashSet::new();
    let mut duplicates = 0;
    let mut failed = Vec::new();
    for h in handles {
        let (ap_id, author_id, r) = h.await.unwrap();
        match r {
            Ok(Stored::New) => assert!(new.insert(ap_id.clone()), "{ap_id} stored twice"),
            Ok(Stored::Duplicate) => duplicates += 1,
            Err(_) => failed.push((ap_id, author_id)),
        }
    }
    assert_eq!(new.len(), 300 + 20 + 1, "each distinct post is new once");
    assert_eq!(
        duplicates,
        300 + 20,
        "the second of each pair is a duplicate"
    );
    assert_eq!(
        failed,
        vec![("https://remote.example/notes/bad".to_string(), i64::MAX)],
        "only the bad post fails"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM posts").await,
        2 + 300 + 20 + 1,
        "rows committed match the answers"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM posts WHERE ap_id = 'https://remote.example/notes/bad'"
        )
        .await,
        0
    );
    // The failed post's activity id was rolled back with it: it can be delivered again.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM received_activities WHERE ap_id = 'https://remote.example/act/bad'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM received_activities").await,
        2 + 300 + 40 + 1
    );
    // Replies are under the root; the orphan was adopted by the late parent, with its context.
    assert_eq!(posts::count_replies(&db, root_row.id).await.unwrap(), 300);
    let late = posts::find_by_ap_id(&db, "https://remote.example/notes/late-parent")
        .await
        .unwrap()
        .unwrap();
    let orphan = posts::find_by_ap_id(&db, "https://remote.example/notes/orphan")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orphan.parent_id, Some(late.id));
    assert_eq!(orphan.context, late.context);

    // A replay of a stored activity, alone, stores nothing.
    let again = writer
        .store(
            &db,
            Some("https://remote.example/act/r7".into()),
            note(author, "r7-other", None, None),
        )
        .await
        .unwrap();
    assert_eq!(again, Stored::Duplicate);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM posts WHERE ap_id = 'https://remote.example/notes/r7-other'"
        )
        .await,
        0
    );
}

/// A fan-out of 1,203 inboxes (with duplicates) over 40 hosts is queued in multi-row statements, one host
/// after another in turn; the batched bookkeeping records deliveries, gives rows back and defers an
/// unreachable host's rows.
async fn fanout_queue_and_bookkeeping(site: Site) {
    let db = db_of(&site).await;
    let actor = remote_actor(&db, "sender").await;
    let activity = activity_of(&db, actor, "https://example.test/act/1").await;
    let mut inboxes = Vec::new();
    for i in 0..1_200 {
        inboxes.push(format!(
            "http://host{}.test:{}/users/u{i}/inbox",
            i % 40,
            8000 + i % 40
        ));
    }
    inboxes.extend(inboxes[..3].to_vec());
    let ordered = placard::federation::delivery::round_robin(&inboxes);
    assert_eq!(ordered.len(), 1_200, "duplicates removed");
    let mut tx = db.begin_write().await.unwrap();
    let queued = deliveries::enqueue(&mut tx, activity, &ordered)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(queued, 1_200);
    // Queueing again adds nothing.
    let mut tx = db.begin_write().await.unwrap();
    assert_eq!(
        deliveries::enqueue(&mut tx, activity, &ordered)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();

    // In queue order, every run of 40 rows covers the 40 hosts once.
    let hosts: Vec<String> = sqlx::query_scalar("SELECT host FROM deliveries ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    for run in hosts.chunks(40) {
        let distinct: HashSet<&String> = run.iter().collect();
        assert_eq!(distinct.len(), 40, "{run:?}");
    }

    // Claim 100: 100 different hosts would be ideal; here 40 hosts, so each at most 3.
    let until = now_ms() + 60_000;
    let claimed = deliveries::claim(&db, "w1", 100, until, &[]).await.unwrap();
    assert_eq!(claimed.len(), 100);
    let mut per_host = std::collections::HashMap::<&str, usize>::new();
    for c in &claimed {
        *per_host.entry(c.host.as_str()).or_default() += 1;
    }
    assert!(per_host.values().all(|n| *n <= 3), "{per_host:?}");

    // 60 delivered in one call, with two statuses; 20 given back; 20 left claimed.
    let done: Vec<(i64, i64)> = claimed[..60]
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, if i % 2 == 0 { 202 } else { 200 }))
        .collect();
    deliveries::mark_delivered_many(&db, &done).await.unwrap();
    let back: Vec<i64> = claimed[60..80].iter().map(|c| c.id).collect();
    deliveries::release_ids(&db, &back).await.unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered' AND attempts = 1 \
             AND last_status IN (200, 202) AND claimed_by IS NULL AND done_at IS NOT NULL"
        )
        .await,
        60
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE last_status = 202"
        )
        .await,
        30
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM deliveries WHERE claimed_by = 'w1'"
        )
        .await,
        20
    );
    assert_eq!(deliveries::count_pending(&db).await.unwrap(), 1_140);

    // host0 cannot be reached: its unclaimed pending rows wait until the retry time; the claimed ones, other
    // hosts' rows and delivered rows are untouched, and no attempt is counted.
    let later = now_ms() + 3_600_000;
    let host0 = "host0.test:8000";
    let claimed_host0 = claimed[80..].iter().filter(|c| c.host == host0).count() as i64;
    let pending_host0: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE host = $1 AND state = 'pending'")
            .bind(host0)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let deferred = deliveries::defer_host(&db, host0, later).await.unwrap() as i64;
    assert_eq!(deferred, pending_host0 - claimed_host0);
    let at_later: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE next_attempt_at = $1 AND host = $2 AND attempts = 0",
    )
    .bind(later)
    .bind(host0)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(at_later, deferred);
    let elsewhere: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE next_attempt_at = $1 AND host <> $2",
    )
    .bind(later)
    .bind(host0)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(elsewhere, 0);
    // Deferring to an earlier time moves nothing back.
    assert_eq!(
        deliveries::defer_host(&db, host0, now_ms()).await.unwrap(),
        0
    );
    // None of host0's deferred rows is claimable now.
    let next = deliveries::claim(&db, "w2", 2_000, until, &[])
        .await
        .unwrap();
    assert!(next.iter().all(|c| c.host != host0));
    assert_eq!(next.len() as i64, 1_140 - 20 - deferred);
}

/// Claimed rows are not due again before their lease ends (so claims do not walk past the rows in flight),
/// given-back rows are due at once, and a host held back keeps its rows out of every claim until it is
/// released, which leaves rows retried meanwhile alone.
async fn claimed_and_held_rows_leave_the_due_range(site: Site) {
    let db = db_of(&site).await;
    let actor = remote_actor(&db, "holder").await;
    let activity = activity_of(&db, actor, "https://example.test/act/held").await;
    let inboxes: Vec<String> = (0..300)
        .map(|i| format!("http://h{}.test:{}/users/u{i}/inbox", i % 10, 9000 + i % 10))
        .collect();
    let ordered = placard::federation::delivery::round_robin(&inboxes);
    let mut tx = db.begin_write().await.unwrap();
    deliveries::enqueue(&mut tx, activity, &ordered)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let due_now = |db: Db| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1",
        )
        .bind(now_ms())
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };

    // 50 claimed: due at the lease's end, the other 250 still due.
    let until = now_ms() + 60_000;
    let first = deliveries::claim(&db, "w1", 50, until, &[]).await.unwrap();
    assert_eq!(first.len(), 50);
    let at_lease: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE claimed_by = 'w1' AND next_attempt_at = $1",
    )
    .bind(until)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(at_lease, 50);
    assert_eq!(due_now(db.clone()).await, 250);
    // Renewing moves the due time with the lease.
    let until2 = until + 30_000;
    deliveries::renew_leases(&db, "w1", until2).await.unwrap();
    let renewed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE claimed_by = 'w1' AND next_attempt_at = $1 AND claimed_until = $1",
    )
    .bind(until2)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(renewed, 50);
    // 10 given back: due again at once.
    let back: Vec<i64> = first[..10].iter().map(|c| c.id).collect();
    deliveries::release_ids(&db, &back).await.unwrap();
    assert_eq!(due_now(db.clone()).await, 260);
    // A lease that ended (a crashed worker): its row is due and claimable by another.
    let lapsed = deliveries::claim(&db, "crashed", 1, now_ms() - 1, &[])
        .await
        .unwrap();
    assert_eq!(lapsed.len(), 1);
    let retaken = deliveries::claim(&db, "w2", 300, until, &[]).await.unwrap();
    assert!(retaken.iter().any(|c| c.id == lapsed[0].id));
    assert_eq!(retaken.len(), 260, "every due row, none of w1's 40");
    deliveries::release(&db, "w2").await.unwrap();
    assert_eq!(due_now(db.clone()).await, 260);

    // Hold back two hosts: their unclaimed pending rows only; w1's claimed rows keep their lease.
    let (h0, h1) = ("h0.test:9000".to_string(), "h1.test:9001".to_string());
    let unclaimed_of = |db: Db, host: String| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deliveries WHERE host = $1 AND state = 'pending' AND claimed_by IS NULL",
        )
        .bind(host)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    let (u0, u1) = (
        unclaimed_of(db.clone(), h0.clone()).await,
        unclaimed_of(db.clone(), h1.clone()).await,
    );
    let hold = now_ms() + 10_000;
    let held = deliveries::park_hosts(&db, &[h0.clone(), h1.clone()], hold)
        .await
        .unwrap() as i64;
    assert_eq!(held, u0 + u1);
    assert_eq!(due_now(db.clone()).await, 260 - held);
    // One of h0's held rows fails meanwhile and waits for its retry.
    let retry_id: i64 = sqlx::query_scalar(
        "SELECT MIN(id) FROM deliveries WHERE host = $1 AND claimed_by IS NULL AND state = 'pending'",
    )
    .bind(&h0)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let retry_at = now_ms() + 3_600_000;
    deliveries::mark_retry(&db, retry_id, Some(503), "answered 503", retry_at)
        .await
        .unwrap();
    let claimed = deliveries::claim(&db, "w3", 300, until, &[]).await.unwrap();
    assert_eq!(claimed.len() as i64, 260 - held);
    assert!(claimed.iter().all(|c| c.host != h0 && c.host != h1));
    // h0 answers: its held rows are due at once, the retried one is not, h1 stays held.
    let released = deliveries::unpark_host(&db, &h0, hold).await.unwrap() as i64;
    assert_eq!(released, u0 - 1);
    let after = deliveries::claim(&db, "w4", 300, until, &[]).await.unwrap();
    assert_eq!(after.len() as i64, u0 - 1);
    assert!(after.iter().all(|c| c.host == h0 && c.id != retry_id));
    let retry_due: i64 = sqlx::query_scalar("SELECT next_attempt_at FROM deliveries WHERE id = $1")
        .bind(retry_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(retry_due, retry_at);
    assert_eq!(unclaimed_of(db.clone(), h1.clone()).await, u1);
    assert_eq!(due_now(db.clone()).await, 0);
}

/// The counts of several posts in one statement equal the counts read one by one.
async fn counts_in_one_statement(site: Site) {
    let db = db_of(&site).await;
    let a = remote_actor(&db, "counter").await;
    let b = remote_actor(&db, "other").await;
    let mut ids = Vec::new();
    for n in ["p0", "p1", "p2"] {
        let mut tx = db.begin_write().await.unwrap();
        ids.push(
            posts::insert(&mut tx, &note(a, n, None, None))
                .await
                .unwrap()
                .unwrap()
                .id,
        );
        tx.commit().await.unwrap();
    }
    let reply = |n: &str, parent: usize, visibility: &str| {
        let mut p = note(b, n, None, Some(ids[parent]));
        p.visibility = visibility.into();
        p
    };
    let mut tx = db.begin_write().await.unwrap();
    for p in [
        reply("c0", 0, "public"),
        reply("c1", 0, "unlisted"),
        reply("c2", 0, "direct"),
        reply("c3", 1, "public"),
    ] {
        posts::insert(&mut tx, &p).await.unwrap();
    }
    tx.commit().await.unwrap();
    for (i, (kind, post, actor)) in [
        ("Like", 0, a),
        ("Like", 0, b),
        ("Announce", 0, b),
        ("Announce", 1, a),
        ("Like", 1, a),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO interactions (ap_id, kind, actor_id, post_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(format!("https://remote.example/i/{i}"))
        .bind(kind)
        .bind(actor)
        .bind(ids[post])
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let counts = posts::counts_of(&db, &ids).await.unwrap();
    let got: Vec<(i64, i64, i64)> = ids
        .iter()
        .map(|id| {
            let c = counts.get(id).copied().unwrap_or_default();
            (c.replies, c.likes, c.shares)
        })
        .collect();
    assert_eq!(got, vec![(2, 2, 1), (1, 1, 1), (0, 0, 0)]);
    assert!(!counts.contains_key(&ids[2]));
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(posts::count_replies(&db, *id).await.unwrap(), got[i].0);
        assert_eq!(
            placard::db::interactions::count(&db, *id, "Like")
                .await
                .unwrap(),
            got[i].1
        );
    }
    assert!(posts::counts_of(&db, &[]).await.unwrap().is_empty());
}

/// An event's coordinates, on one connection, first absent then present: the same statement must store both
/// (sqlx's `Any` driver once prepared it with the NULL typed `float4`, and PostgreSQL then refused every real
/// latitude), and read back exactly what was stored.
async fn event_coordinates_null_then_set(site: Site) {
    let db = Db::connect(&site.database_url, 2).await.unwrap();
    db.migrate().await.unwrap();
    let author = remote_actor(&db, "mz").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let places = [
        None,
        Some((51.4285, -0.1313)),
        None,
        Some((-33.868_820_000_000_1, 151.209_295_5)),
        Some((0.1 + 0.2, f64::MIN_POSITIVE)),
    ];
    for (i, place) in places.iter().enumerate() {
        let mut n = note(author, &format!("event{i}"), None, None);
        n.kind = "Event".into();
        let post = posts::insert(&mut conn, &n).await.unwrap().unwrap();
        let row = placard::db::events::EventRow {
            post_id: post.id,
            name: format!("Event {i}"),
            description: String::new(),
            start_at: now_ms(),
            end_at: None,
            timezone: "UTC".into(),
            location_name: None,
            address: None,
            latitude: place.map(|p| p.0),
            longitude: place.map(|p| p.1),
            status: "confirmed".into(),
            join_mode: "free".into(),
            banner_url: None,
            sequence: 0,
            participant_count: 0,
        };
        let stored = placard::db::events::upsert(&mut conn, &row)
            .await
            .unwrap_or_else(|e| panic!("event {i} at {place:?}: {e}"));
        assert_eq!(
            (stored.latitude, stored.longitude),
            (row.latitude, row.longitude)
        );
        let read = placard::db::events::find(&db, post.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.latitude, read.longitude),
            (row.latitude, row.longitude)
        );
    }
}

/// A claimed row says whether it is its host's last due one, so that its connection is closed after it.
async fn claim_tells_a_hosts_last_row(site: Site) {
    let db = db_of(&site).await;
    let actor = remote_actor(&db, "closer").await;
    let activity = activity_of(&db, actor, "https://example.test/act/last").await;
    let inbox = |h: &str, u: u32| format!("http://{h}.test:7000/users/u{u}/inbox");
    let order = [
        inbox("a", 1),
        inbox("b", 1),
        inbox("c", 1),
        inbox("a", 2),
        inbox("c", 2),
    ];
    let mut tx = db.begin_write().await.unwrap();
    deliveries::enqueue(&mut tx, activity, &order)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // c2 waits an hour (a retry): c1 is c's last due row all the same.
    let c2: i64 = sqlx::query_scalar("SELECT id FROM deliveries WHERE inbox_url = $1")
        .bind(inbox("c", 2))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    deliveries::mark_retry(&db, c2, Some(503), "busy", now_ms() + 3_600_000)
        .await
        .unwrap();
    let until = now_ms() + 60_000;
    let mut seen = Vec::new();
    while let Some(row) = deliveries::claim(&db, "w", 1, until, &[])
        .await
        .unwrap()
        .pop()
    {
        seen.push((row.inbox_url, row.last_of_host));
    }
    assert_eq!(
        seen,
        vec![
            (inbox("a", 1), 0),
            (inbox("b", 1), 1),
            (inbox("c", 1), 1),
            (inbox("a", 2), 1),
        ]
    );
}

on_both_databases!(
    claim_tells_a_hosts_last_row,
    post_writer_group_commit,
    fanout_queue_and_bookkeeping,
    counts_in_one_statement,
    claimed_and_held_rows_leave_the_due_range,
    event_coordinates_null_then_set,
);
