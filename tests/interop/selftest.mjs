// Self-test of the interop peer: Fedify peer <-> Fedify peer, no Placard.
//
//   ./setup.sh && node_modules/.bin/node selftest.mjs
//
// Starts three peers on free ports (A and B knock with RFC 9421 first, C with
// draft-cavage first), drives them through the control API exactly as the
// Rust test drives one peer against Placard, and checks what they recorded.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const dir = fileURLToPath(new URL(".", import.meta.url));
const children = [];

function startPeer(name, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["peer.mjs"], {
      cwd: dir,
      env: { ...process.env, PORT: "0", PEER_EXIT_ON_STDIN_EOF: "1", ...extraEnv },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.push(child);
    child.stderr.on("data", (d) => {
      if (process.env.VERBOSE) process.stderr.write(`[${name}] ${d}`);
    });
    child.once("exit", (code) => reject(new Error(`${name} exited (${code})`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = line.match(/^READY (\S+)$/);
      if (m) resolve(m[1]);
    });
  });
}

async function call(origin, path, body) {
  const res = await fetch(origin + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${path} -> ${res.status}: ${JSON.stringify(json, null, 2)}`);
  return json;
}

async function waitFor(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ok(msg) {
  console.log(`ok - ${msg}`);
}

try {
  const [A, B, C] = await Promise.all([
    startPeer("A"),
    startPeer("B"),
    startPeer("C", { PEER_FIRST_KNOCK: "draft-cavage" }),
  ]);
  const a = `${A}/users/peer`, b = `${B}/users/peer`, c = `${C}/users/peer`;
  ok(`peers ready: ${A} ${B} ${C}`);

  // WebFinger and actor document
  const host = new URL(B).host;
  const wf = await (await fetch(`${B}/.well-known/webfinger?resource=acct:peer@${host}`)).json();
  assert.equal(wf.links.find((l) => l.rel === "self").href, b);
  const actorRes = await fetch(b, { headers: { accept: "application/activity+json" } });
  assert.equal(actorRes.headers.get("content-type"), "application/activity+json");
  const actorDoc = await actorRes.json();
  assert.equal(actorDoc.publicKey.owner, b);
  assert.equal(actorDoc.endpoints.sharedInbox, `${B}/inbox`);
  ok("webfinger and actor document");

  // A follows B; B auto-accepts; A sees the Accept (after re-fetching its Follow).
  const f = await call(A, "/control/follow", { actor: b });
  assert.equal(f.actor.publicKey.id, `${b}#main-key`);
  assert.equal(f.actor.publicKey.owner, b);
  assert.equal(f.sent.http[0].signature.spec, "rfc9421");
  assert.equal(f.sent.http[0].status, 202);
  const sa = await waitFor("A's follow accepted", async () => {
    const s = await call(A, "/control/state");
    return s.followAccepted ? s : null;
  });
  assert.equal(sa.lastAccepted.followId, f.followId);
  assert.equal(sa.accepts[0].valid, true);
  assert.ok(
    sa.requests.some((r) => r.method === "GET" && f.followId.endsWith(r.path)),
    "A served its Follow to its own Accept handler",
  );
  await waitFor("B lists A as follower", async () =>
    (await call(B, "/control/state")).followers.some((x) => x.id === a));
  ok("follow / accept");

  // B posts to its followers; A receives the Create(Note).
  const post = await call(B, "/control/post", { content: "<p>Fri 26th June — demonstration</p>" });
  assert.deepEqual(post.recipients, [a]);
  const note = await waitFor("A received B's note", async () =>
    (await call(A, "/control/state")).notes.find((n) => n.id === post.noteId));
  assert.equal(note.attributedTo, b);
  assert.equal(note.content, "<p>Fri 26th June — demonstration</p>");
  ok("post to followers");

  // A replies; B receives it in reply to its note.
  const reply = await call(A, "/control/reply", { inReplyTo: post.noteId, content: "<p>See you there</p>" });
  assert.equal(reply.parentAuthor, b);
  const got = await waitFor("B received the reply", async () =>
    (await call(B, "/control/state")).notes.find((n) => n.id === reply.noteId));
  assert.equal(got.inReplyTo, post.noteId);
  assert.equal(got.signature.spec, "rfc9421");
  const noteDoc = await (await fetch(reply.noteId, { headers: { accept: "application/activity+json" } })).json();
  assert.equal(noteDoc.inReplyTo, post.noteId);
  ok("reply");

  // Like, announce (shared inbox), undo like, update, delete.
  await call(A, "/control/like", { object: post.noteId });
  await call(A, "/control/announce", { object: post.noteId, sharedInbox: true });
  await call(A, "/control/undo-like", { object: post.noteId });
  await call(A, "/control/update", { note: reply.noteId, content: "<p>edited</p>" });
  await call(A, "/control/delete", { note: reply.noteId });
  const sb = await call(B, "/control/state");
  const types = sb.activities.map((x) => x.type);
  for (const t of ["Like", "Announce", "Undo", "Update", "Delete"]) assert.ok(types.includes(t), t);
  assert.equal(sb.activities.find((x) => x.type === "Announce").inbox, "shared");
  assert.equal(sb.activities.find((x) => x.type === "Update").objectInfo.content, "<p>edited</p>");
  ok("like / announce / undo / update / delete");

  // Lookup, signed.
  const lk = await call(A, "/control/lookup", { url: post.noteId, signed: true });
  assert.equal(lk.type, "Note");
  const signedGet = (await call(B, "/control/state")).requests.find((r) =>
    r.method === "GET" && post.noteId.endsWith(r.path) && r.signature.spec !== "none");
  assert.ok(signedGet, "signed GET seen by B");
  ok("lookup (signed)");

  // C knocks with draft-cavage first.
  const fc = await call(C, "/control/follow", { actor: b });
  assert.equal(fc.sent.http[0].signature.spec, "draft-cavage");
  assert.equal(fc.sent.http[0].status, 202);
  await waitFor("C's follow accepted", async () => (await call(C, "/control/state")).followAccepted);
  ok("draft-cavage first knock");

  // Unfollow.
  await call(A, "/control/undo-follow", { actor: b });
  const sb2 = await call(B, "/control/state");
  assert.ok(!sb2.followers.some((x) => x.id === a));
  assert.ok(sb2.followers.some((x) => x.id === c));
  ok("undo follow");

  // An unsigned POST is refused (401) and recorded as unverified.
  const bad = await fetch(`${B}/users/peer/inbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json" },
    body: JSON.stringify({
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${A}/bogus/1`, type: "Like", actor: a, object: post.noteId,
    }),
  });
  assert.equal(bad.status, 401);
  const sb3 = await call(B, "/control/state");
  assert.equal(sb3.unverified.at(-1).reason, "noSignature");
  ok("unsigned POST refused and recorded");

  // A raw activity through /control/send.
  const sent = await call(A, "/control/send", {
    to: b,
    activity: {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${A}/raw/1`, type: "Like", actor: a, object: post.noteId,
    },
  });
  assert.equal(sent.sent.ok, true);
  ok("raw send");

  assert.deepEqual(sb3.errors, []);
  console.log("all ok");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill("SIGTERM");
}
