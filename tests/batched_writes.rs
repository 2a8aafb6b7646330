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
    let activity: i64 = {
        let mut tx = db.begin_write().await.unwrap();
        let id = placard::db::activities::insert(
            &mut tx,
            "https://example.test/act/1",
            actor,
            "Create",
            None,
            "{}",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    };
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

on_both_databases!(
    post_writer_group_commit,
    fanout_queue_and_bookkeeping,
    counts_in_one_statement,
    event_coordinates_null_then_set,
);
