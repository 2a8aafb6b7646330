// Placard interop peer: a small, independent ActivityPub server built with
// Fedify, driven over loopback HTTP by Placard's Rust interop test.
//
//   PORT=0 node22 peer.mjs      ->  prints "READY http://localhost:NNNN" on stdout
//
// Everything else (logs) goes to stderr.  See README.md for the control API.

import http from "node:http";
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import process from "node:process";

import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  SendActivityError,
} from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  getActorTypeName,
  Hashtag,
  isActor,
  Like,
  Link,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
} from "@fedify/vocab";
import { configure, getLogger, getTextFormatter } from "@logtape/logtape";
import { Temporal } from "@js-temporal/polyfill";

// ---------------------------------------------------------------------------
// Settings

const env = process.env;
const argv = process.argv.slice(2);
function arg(name) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const PORT = Number(arg("port") ?? env.PORT ?? 0);
const LISTEN_HOST = arg("host") ?? env.PEER_LISTEN_HOST ?? "127.0.0.1";
const USERNAME = arg("username") ?? env.PEER_USERNAME ?? "peer";
const LOG_LEVEL = env.PEER_LOG_LEVEL ?? "info";
const FIRST_KNOCK = normalizeSpec(env.PEER_FIRST_KNOCK ?? "rfc9421");
const WITH_ED25519 = ["1", "true", "yes"].includes(
  (env.PEER_ED25519 ?? "").toLowerCase(),
);
const LOG_LIMIT = 500;

function normalizeSpec(s) {
  s = s.toLowerCase();
  if (s === "rfc9421") return "rfc9421";
  if (s.startsWith("draft-cavage") || s === "cavage") {
    return "draft-cavage-http-signatures-12";
  }
  throw new Error(`PEER_FIRST_KNOCK must be rfc9421 or draft-cavage: ${s}`);
}

// ---------------------------------------------------------------------------
// Logging: LogTape (Fedify's logger) to stderr only; stdout carries READY.

const textFormatter = getTextFormatter();
await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: { stderr: (record) => process.stderr.write(textFormatter(record)) },
  loggers: [
    { category: ["fedify"], sinks: ["stderr"], lowestLevel: LOG_LEVEL },
    { category: ["peer"], sinks: ["stderr"], lowestLevel: LOG_LEVEL },
    { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
  ],
});
const log = getLogger(["peer"]);

// ---------------------------------------------------------------------------
// What the peer observed (served by GET /control/state)

const state = {
  seq: 0,
  follows: [], // Follows this peer sent: {id, object, state, acceptId, ...}
  accepts: [], // every Accept received
  rejects: [], // every Reject received
  followers: [], // actors following this peer: {id, inbox, sharedInbox, followId}
  creates: [], // every Create received, with the object parsed by Fedify
  activities: [], // every activity an inbox listener accepted (all types)
  errors: [], // inbox errors (Fedify onError)
  unverified: [], // activities whose HTTP signature did not verify
  sent: [], // activities this peer sent, with the HTTP attempts
  sendErrors: [], // background send failures (e.g. the auto-Accept)
  requests: [], // incoming HTTP requests (not /control)
  fetches: [], // outgoing HTTP requests Fedify made (GETs and POSTs)
};

function push(list, item) {
  state.seq++;
  item.seq = state.seq;
  item.at = new Date().toISOString();
  list.push(item);
  if (list.length > LOG_LIMIT) list.splice(0, list.length - LOG_LIMIT);
  return item;
}

// Per-request context: raw inbox body and signature info for listeners, and
// the outgoing HTTP attempts made while handling a control call.
const als = new AsyncLocalStorage();

function signatureInfo(headers) {
  const input = headers.get("signature-input");
  if (input != null) {
    const m = input.match(/keyid="([^"]*)"/i);
    return { spec: "rfc9421", keyId: m?.[1] ?? null };
  }
  const sig = headers.get("signature");
  if (sig != null) {
    const m = sig.match(/keyId="([^"]*)"/);
    const alg = sig.match(/algorithm="([^"]*)"/)?.[1] ?? null;
    const hdrs = sig.match(/headers="([^"]*)"/)?.[1] ?? null;
    return {
      spec: "draft-cavage",
      keyId: m?.[1] ?? null,
      algorithm: alg,
      headers: hdrs,
    };
  }
  return { spec: "none", keyId: null };
}

// Record every HTTP request Fedify makes (document/key fetches and deliveries),
// including which signature format each delivery attempt used (double-knock).
const originalFetch = globalThis.fetch;
globalThis.fetch = async function recordingFetch(input, init) {
  const req = input instanceof Request ? input : null;
  const headers = new Headers(init?.headers ?? req?.headers ?? undefined);
  const entry = {
    method: init?.method ?? req?.method ?? "GET",
    url: req?.url ?? String(input),
    accept: headers.get("accept"),
    contentType: headers.get("content-type"),
    signature: signatureInfo(headers),
  };
  try {
    const res = await originalFetch(input, init);
    entry.status = res.status;
    entry.contentTypeReceived = res.headers.get("content-type");
    return res;
  } catch (e) {
    entry.error = String(e?.cause ?? e);
    throw e;
  } finally {
    push(state.fetches, entry);
    als.getStore()?.http?.push(entry);
  }
};

// ---------------------------------------------------------------------------
// Helpers turning Fedify objects into plain JSON for the state

const href = (u) =>
  u == null ? null : u instanceof URL ? u.href : u.href?.href ?? String(u);
const text = (v) => (v == null ? null : String(v));
const errorInfo = (e) => ({
  error: String(e?.message ?? e),
  name: e?.name ?? null,
  status: e instanceof SendActivityError ? e.statusCode : undefined,
  responseBody: e instanceof SendActivityError ? e.responseBody : undefined,
  cause: e?.cause != null ? String(e.cause) : undefined,
});

async function keyInfo(actor, options) {
  const keys = [];
  try {
    for await (const k of actor.getPublicKeys(options)) {
      keys.push({
        id: href(k.id),
        owner: href(k.ownerId),
        algorithm: k.publicKey?.algorithm?.name ?? null,
        modulusLength: k.publicKey?.algorithm?.modulusLength ?? null,
      });
    }
  } catch (e) {
    keys.push({ error: String(e) });
  }
  return keys;
}

async function actorInfo(actor, options) {
  const publicKeys = await keyInfo(actor, options);
  return {
    id: href(actor.id),
    type: getActorTypeName(actor),
    preferredUsername: text(actor.preferredUsername),
    name: text(actor.name),
    summary: text(actor.summary),
    url: href(actor.url),
    inbox: href(actor.inboxId),
    sharedInbox: href(actor.endpoints?.sharedInbox),
    outbox: href(actor.outboxId),
    followers: href(actor.followersId),
    following: href(actor.followingId),
    featured: href(actor.featuredId),
    manuallyApprovesFollowers: actor.manuallyApprovesFollowers ?? null,
    publicKey: publicKeys.find((k) => !k.error) ?? null,
    publicKeys,
    assertionMethods: actor.assertionMethodIds.map(href),
  };
}

async function objectInfo(obj, options) {
  if (obj == null) return null;
  if (isActor(obj)) return await actorInfo(obj, options);
  const info = {
    id: href(obj.id),
    type: obj.constructor.name,
    content: text(obj.content),
    name: text(obj.name),
    summary: text(obj.summary),
    sensitive: obj.sensitive ?? null,
    attributedTo: href(obj.attributionId),
    inReplyTo: href(obj.replyTargetId),
    published: text(obj.published),
    updated: text(obj.updated),
    url: href(obj.url),
    to: obj.toIds.map(href),
    cc: obj.ccIds.map(href),
    context: obj.contextIds.map(href),
    replies: href(obj.repliesId),
    likes: href(obj.likesId),
    shares: href(obj.sharesId),
  };
  if (obj.startTime !== undefined) {
    info.startTime = text(obj.startTime);
    info.endTime = text(obj.endTime);
    // An Event's place, read with Fedify's own vocabulary (Place: name, latitude, longitude).
    try {
      const loc = await obj.getLocation(options);
      info.location = loc == null ? null : {
        type: loc.constructor.name,
        name: text(loc.name),
        latitude: loc.latitude ?? null,
        longitude: loc.longitude ?? null,
      };
    } catch (e) {
      info.location = { error: String(e) };
    }
  }
  if (obj instanceof Tombstone) info.deleted = text(obj.deleted);
  const tags = [];
  try {
    for await (const t of obj.getTags(options)) {
      tags.push({ type: t.constructor.name, href: href(t.href), name: text(t.name) });
    }
  } catch (e) {
    tags.push({ error: String(e) });
  }
  info.tags = tags;
  const attachments = [];
  try {
    for await (const a of obj.getAttachments(options)) {
      attachments.push({
        type: a.constructor.name,
        url: href(a.url),
        mediaType: a.mediaType ?? null,
        name: text(a.name),
      });
    }
  } catch (e) {
    attachments.push({ error: String(e) });
  }
  info.attachments = attachments;
  if (obj.totalItems !== undefined) info.totalItems = obj.totalItems;
  return info;
}

function activitySummary(ctx, activity) {
  const store = als.getStore();
  return {
    type: activity.constructor.name,
    id: href(activity.id),
    actor: href(activity.actorId),
    object: href(activity.objectId),
    objectEmbedded:
      store?.raw != null && typeof store.raw.object === "object"
        ? store.raw.object !== null
        : null,
    to: activity.toIds.map(href),
    cc: activity.ccIds.map(href),
    inbox: ctx.recipient == null ? "shared" : ctx.recipient,
    signature: store?.signature ?? null,
    raw: store?.raw ?? null,
  };
}

// ---------------------------------------------------------------------------
// Local objects served by the object dispatchers

const stores = new Map(); // class name -> Map(uuid -> object)
const objectRoutes = [
  [Note, "/notes/{id}"],
  [Follow, "/follows/{id}"],
  [Accept, "/accepts/{id}"],
  [Create, "/creates/{id}"],
  [Update, "/updates/{id}"],
  [Delete, "/deletes/{id}"],
  [Like, "/likes/{id}"],
  [Announce, "/announces/{id}"],
  [Undo, "/undos/{id}"],
];
for (const [cls] of objectRoutes) stores.set(cls.name, new Map());

function mint(ctx, cls) {
  const id = randomUUID();
  return { uuid: id, uri: ctx.getObjectUri(cls, { id }) };
}
function keep(cls, uuid, obj) {
  stores.get(cls.name).set(uuid, obj);
  return obj;
}
function findLocal(cls, uri) {
  for (const obj of stores.get(cls.name).values()) {
    if (obj.id?.href === uri) return obj;
  }
  return null;
}
function uuidOf(cls, uri) {
  for (const [uuid, obj] of stores.get(cls.name)) {
    if (obj.id?.href === uri) return uuid;
  }
  return null;
}

// ---------------------------------------------------------------------------
// The federation

const rsaKeyPair = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const keyPairs = [rsaKeyPair];
if (WITH_ED25519) keyPairs.push(await generateCryptoKeyPair("Ed25519"));

// Listen first (PORT=0 picks a free port) so the canonical origin is known.
const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    log.error("Unhandled error in request handler: {error}", { error: e });
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(e));
  });
});
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(PORT, LISTEN_HOST, resolve);
});
const port = server.address().port;
const ORIGIN = env.PEER_ORIGIN ?? `http://localhost:${port}`;

const federation = createFederation({
  kv: new MemoryKvStore(),
  // No queue: deliveries happen inline (sendActivity resolves once the remote
  // inbox answered, or throws), and inbox listeners run inside the request,
  // so a listener error becomes a 500 to the sender.
  origin: ORIGIN,
  allowPrivateAddress: true,
  firstKnock: FIRST_KNOCK,
  userAgent: { software: "placard-interop-peer/0.1.0" },
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Interop Peer",
      summary: "<p>Fedify peer for Placard's interop test.</p>",
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      followers: ctx.getFollowersUri(identifier),
      manuallyApprovesFollowers: false,
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher((_ctx, identifier) =>
    identifier === USERNAME ? keyPairs : []
  );

federation.setFollowersDispatcher(
  "/users/{identifier}/followers",
  (_ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    return {
      items: state.followers.map((f) => ({
        id: new URL(f.id),
        inboxId: new URL(f.inbox),
        endpoints: f.sharedInbox == null
          ? null
          : { sharedInbox: new URL(f.sharedInbox) },
      })),
    };
  },
).setCounter((_ctx, identifier) =>
  identifier === USERNAME ? state.followers.length : null
);

for (const [cls, path] of objectRoutes) {
  federation.setObjectDispatcher(
    cls,
    path,
    (_ctx, values) => stores.get(cls.name).get(values.id) ?? null,
  );
}

federation.setNodeInfoDispatcher("/nodeinfo/2.1", () => ({
  software: { name: "placard-interop-peer", version: "0.1.0" },
  protocols: ["activitypub"],
  usage: {
    users: { total: 1, activeHalfyear: 1, activeMonth: 1 },
    localPosts: stores.get("Note").size,
    localComments: 0,
  },
}));

function recordActivity(ctx, activity, extra = {}) {
  return push(state.activities, { ...activitySummary(ctx, activity), ...extra });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, async (ctx, follow) => {
    recordActivity(ctx, follow);
    const target = ctx.parseUri(follow.objectId);
    if (target?.type !== "actor" || target.identifier !== USERNAME) {
      log.warn("Follow of an unknown object {object}", {
        object: href(follow.objectId),
      });
      return;
    }
    const follower = await follow.getActor(ctx);
    if (follower == null || !isActor(follower) || follower.inboxId == null) {
      throw new Error(`cannot resolve the follower ${href(follow.actorId)}`);
    }
    const record = {
      id: follower.id.href,
      inbox: follower.inboxId.href,
      sharedInbox: href(follower.endpoints?.sharedInbox),
      followId: href(follow.id),
    };
    const existing = state.followers.findIndex((f) => f.id === record.id);
    if (existing >= 0) state.followers.splice(existing, 1);
    push(state.followers, record);
    const { uuid, uri } = mint(ctx, Accept);
    const accept = keep(
      Accept,
      uuid,
      new Accept({
        id: uri,
        actor: ctx.getActorUri(USERNAME),
        object: follow,
        to: follower.id,
      }),
    );
    // Send the Accept after answering the Follow's POST, like a queued server.
    setImmediate(async () => {
      const http = [];
      try {
        await als.run({ http }, () =>
          ctx.sendActivity({ identifier: USERNAME }, follower, accept));
        push(state.sent, { type: "Accept", id: uri.href, to: [follower.id.href], ok: true, http });
      } catch (e) {
        log.error("Failed to send Accept: {error}", { error: e });
        push(state.sent, { type: "Accept", id: uri.href, to: [follower.id.href], ok: false, http, ...errorInfo(e) });
        push(state.sendErrors, { activity: uri.href, ...errorInfo(e) });
      }
    });
  })
  .on(Accept, async (ctx, accept) => {
    let follow = null;
    let resolveError = null;
    try {
      const obj = await accept.getObject(ctx);
      if (obj instanceof Follow) follow = obj;
      else resolveError = `object is ${obj?.constructor?.name ?? "null"}, not a Follow`;
    } catch (e) {
      resolveError = String(e);
    }
    const followId = href(follow?.id) ?? href(accept.objectId);
    const mine = state.follows.find((f) => f.id === followId);
    const valid = mine != null && href(accept.actorId) === mine.object;
    const rec = push(state.accepts, {
      ...activitySummary(ctx, accept),
      followId,
      followResolved: follow != null,
      resolveError,
      matchesSentFollow: mine != null,
      valid,
    });
    recordActivity(ctx, accept, { followId });
    if (valid && mine.state !== "undone") {
      mine.state = "accepted";
      mine.acceptId = rec.id;
      mine.acceptedAt = rec.at;
    }
  })
  .on(Reject, async (ctx, reject) => {
    const followId = href(reject.objectId);
    const mine = state.follows.find((f) => f.id === followId);
    push(state.rejects, { ...activitySummary(ctx, reject), followId });
    recordActivity(ctx, reject, { followId });
    if (mine != null && href(reject.actorId) === mine.object) {
      mine.state = "rejected";
      mine.rejectId = href(reject.id);
    }
  })
  .on(Create, async (ctx, create) => {
    let object = null;
    let resolveError = null;
    try {
      object = await objectInfo(await create.getObject(ctx), ctx);
    } catch (e) {
      resolveError = String(e);
    }
    const summary = activitySummary(ctx, create);
    push(state.creates, {
      ...summary,
      object,
      resolveError,
      actorIsAuthor: object != null && object.attributedTo === summary.actor,
    });
    recordActivity(ctx, create, { objectType: object?.type ?? null });
  })
  .on(Update, async (ctx, update) => {
    let object = null;
    let resolveError = null;
    try {
      object = await objectInfo(await update.getObject(ctx), ctx);
    } catch (e) {
      resolveError = String(e);
    }
    recordActivity(ctx, update, { objectInfo: object, resolveError });
  })
  .on(Undo, async (ctx, undo) => {
    let inner = null;
    let resolveError = null;
    try {
      inner = await undo.getObject(ctx);
    } catch (e) {
      resolveError = String(e);
    }
    const extra = {
      undoneType: inner?.constructor?.name ?? null,
      undoneId: href(inner?.id) ?? href(undo.objectId),
      undoneObject: href(inner?.objectId),
      resolveError,
    };
    if (inner instanceof Follow && href(inner.actorId) === href(undo.actorId)) {
      const i = state.followers.findIndex((f) => f.id === href(undo.actorId));
      if (i >= 0) state.followers.splice(i, 1);
    }
    recordActivity(ctx, undo, extra);
  })
  // Everything else (Delete, Like, Announce, EmojiReact, ...): record it.
  .on(Activity, async (ctx, activity) => {
    recordActivity(ctx, activity);
  })
  // Key fetches for activities on the shared inbox are signed as the peer too
  // (per-actor inboxes sign as their recipient), like Mastodon's instance actor.
  .setSharedKeyDispatcher(() => ({ identifier: USERNAME }))
  .onError((_ctx, error) => {
    log.error("Inbox error: {error}", { error });
    const store = als.getStore();
    push(state.errors, { ...errorInfo(error), signature: store?.signature ?? null, raw: store?.raw ?? null });
  })
  .onUnverifiedActivity((_ctx, activity, reason) => {
    const store = als.getStore();
    push(state.unverified, {
      type: activity.constructor.name,
      id: href(activity.id),
      actor: href(activity.actorId),
      reason: reason.type,
      keyId: href(reason.keyId),
      fetchStatus: reason.result?.status ?? null,
      fetchError: reason.result?.error != null ? String(reason.result.error) : null,
      signature: store?.signature ?? null,
      raw: store?.raw ?? null,
    });
    // Returning nothing: Fedify answers 401 as usual.
  });

// ---------------------------------------------------------------------------
// Control API

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function controlContext() {
  return federation.createContext(new URL(ORIGIN), undefined);
}

async function loaderFor(ctx, body) {
  return body?.signed
    ? { documentLoader: await ctx.getDocumentLoader({ identifier: USERNAME }) }
    : {};
}

async function lookup(ctx, url, body) {
  if (typeof url !== "string" || url === "") {
    throw new HttpError(400, "missing URL");
  }
  const options = await loaderFor(ctx, body);
  const obj = await ctx.lookupObject(url, options);
  if (obj == null) {
    throw new HttpError(422, `Fedify could not look up ${url} (see fetches/stderr)`);
  }
  return { obj, options };
}

async function lookupActor(ctx, url, body) {
  const { obj, options } = await lookup(ctx, url, body);
  if (!isActor(obj)) {
    throw new HttpError(422, `${url} is a ${obj.constructor.name}, not an actor`);
  }
  return { actor: obj, info: await actorInfo(obj, options), options };
}

// Send an activity; record it and the HTTP attempts (double-knock) made.
async function send(ctx, activity, recipients, body) {
  const http = [];
  const entry = {
    type: activity.constructor.name,
    id: activity.id.href,
    to: recipients.map((r) => r.id.href),
    http,
  };
  try {
    await als.run({ http }, () =>
      ctx.sendActivity({ identifier: USERNAME }, recipients, activity, {
        preferSharedInbox: Boolean(body?.sharedInbox),
      }));
    entry.ok = true;
  } catch (e) {
    Object.assign(entry, { ok: false, ...errorInfo(e) });
  }
  push(state.sent, entry);
  if (!entry.ok) {
    throw new HttpError(502, entry.error, { sent: entry });
  }
  return entry;
}

function followersAsRecipients() {
  return state.followers.map((f) => ({
    id: new URL(f.id),
    inboxId: new URL(f.inbox),
    endpoints: f.sharedInbox == null ? null : { sharedInbox: new URL(f.sharedInbox) },
  }));
}

function dedupe(recipients) {
  const seen = new Set();
  return recipients.filter((r) => {
    if (seen.has(r.id.href)) return false;
    seen.add(r.id.href);
    return true;
  });
}

function asList(v) {
  return v == null ? [] : Array.isArray(v) ? v : [v];
}

// POST /control/post and /control/reply share this.
async function createNote(ctx, body, isReply) {
  if (typeof body.content !== "string") throw new HttpError(400, "missing content");
  const visibility = body.visibility ?? "public";
  const me = ctx.getActorUri(USERNAME);
  const followersUri = ctx.getFollowersUri(USERNAME);
  let toActors = asList(body.to);
  let parent = null;
  if (isReply || body.inReplyTo != null) {
    if (typeof body.inReplyTo !== "string") throw new HttpError(400, "missing inReplyTo");
    if (toActors.length === 0) {
      // Address the parent's author, as Mastodon does.
      const { obj } = await lookup(ctx, body.inReplyTo, body);
      parent = obj;
      if (obj.attributionId == null) {
        throw new HttpError(422, `${body.inReplyTo} has no attributedTo; pass "to"`);
      }
      toActors = [obj.attributionId.href];
    }
  }
  const actors = [];
  for (const url of toActors) actors.push((await lookupActor(ctx, url, body)).actor);
  const mentioned = actors.map((a) => a.id);
  const mentionTags = actors.map((a) =>
    new Mention({
      href: a.id,
      name: `@${a.preferredUsername ?? "unknown"}@${a.id.host}`,
    })
  );
  const hashtags = asList(body.hashtags).map((t) =>
    new Hashtag({ name: `#${t}`, href: new URL(`${ORIGIN}/tags/${encodeURIComponent(t)}`) })
  );
  let to, cc;
  switch (visibility) {
    case "public": to = [PUBLIC_COLLECTION]; cc = [followersUri, ...mentioned]; break;
    case "unlisted": to = [followersUri]; cc = [PUBLIC_COLLECTION, ...mentioned]; break;
    case "followers": to = [followersUri]; cc = mentioned; break;
    case "direct": to = mentioned; cc = []; break;
    default: throw new HttpError(400, `unknown visibility ${visibility}`);
  }
  const published = Temporal.Now.instant();
  const { uuid, uri } = mint(ctx, Note);
  const note = keep(Note, uuid, new Note({
    id: uri,
    attribution: me,
    content: body.content,
    summary: body.summary ?? null,
    sensitive: body.summary != null ? true : null,
    replyTarget: body.inReplyTo != null ? new URL(body.inReplyTo) : null,
    published,
    url: uri,
    tos: to,
    ccs: cc,
    tags: [...mentionTags, ...hashtags],
  }));
  const created = mint(ctx, Create);
  const create = keep(Create, created.uuid, new Create({
    id: created.uri,
    actor: me,
    object: note,
    published,
    tos: to,
    ccs: cc,
  }));
  const recipients = dedupe([
    ...actors,
    ...(visibility === "direct" ? [] : followersAsRecipients()),
  ]);
  const sent = recipients.length > 0 ? await send(ctx, create, recipients, body) : null;
  return {
    noteId: uri.href,
    createId: created.uri.href,
    inReplyTo: body.inReplyTo ?? null,
    parentAuthor: href(parent?.attributionId),
    recipients: recipients.map((r) => r.id.href),
    sent,
  };
}

// Who should hear about an interaction with a (remote) object: its author.
async function authorOf(ctx, objectUrl, body) {
  const to = asList(body.to);
  if (to.length > 0) {
    const out = [];
    for (const url of to) out.push((await lookupActor(ctx, url, body)).actor);
    return out;
  }
  const { obj } = await lookup(ctx, objectUrl, body);
  if (obj.attributionId == null) {
    throw new HttpError(422, `${objectUrl} has no attributedTo; pass "to"`);
  }
  return [(await lookupActor(ctx, obj.attributionId.href, body)).actor];
}

async function interact(ctx, body, cls, extra = {}) {
  if (typeof body.object !== "string") throw new HttpError(400, "missing object");
  const recipients = await authorOf(ctx, body.object, body);
  const { uuid, uri } = mint(ctx, cls);
  const activity = keep(cls, uuid, new cls({
    id: uri,
    actor: ctx.getActorUri(USERNAME),
    object: new URL(body.object),
    published: Temporal.Now.instant(),
    tos: cls === Announce ? [PUBLIC_COLLECTION] : recipients.map((r) => r.id),
    ccs: cls === Announce
      ? [ctx.getFollowersUri(USERNAME), ...recipients.map((r) => r.id)]
      : [],
    ...extra,
  }));
  const all = cls === Announce
    ? dedupe([...recipients, ...followersAsRecipients()])
    : recipients;
  const sent = await send(ctx, activity, all, body);
  return { id: uri.href, object: body.object, sent };
}

async function undoLocal(ctx, body, cls, recipientsOf) {
  // Find the activity to undo: by its id, or the latest one on `object`.
  let target = null;
  if (typeof body.id === "string") target = findLocal(cls, body.id);
  else if (typeof body.object === "string" || typeof body.actor === "string") {
    const want = body.object ?? body.actor;
    const all = [...stores.get(cls.name).values()].filter((a) => href(a.objectId) === want);
    target = all.at(-1) ?? null;
  }
  if (target == null) throw new HttpError(404, `no ${cls.name} found to undo`);
  const recipients = await recipientsOf(target);
  const { uuid, uri } = mint(ctx, Undo);
  const undo = keep(Undo, uuid, new Undo({
    id: uri,
    actor: ctx.getActorUri(USERNAME),
    object: target,
    tos: recipients.map((r) => r.id),
  }));
  const sent = await send(ctx, undo, recipients, body);
  return { id: uri.href, undone: target.id.href, sent };
}

async function recipientsOfNote(ctx, note, body) {
  const addressed = [...note.toIds, ...note.ccIds]
    .map((u) => u.href)
    .filter((u) => u !== PUBLIC_COLLECTION.href && u !== ctx.getFollowersUri(USERNAME).href);
  const actors = [];
  for (const url of addressed) actors.push((await lookupActor(ctx, url, body)).actor);
  return dedupe([...actors, ...followersAsRecipients()]);
}

const routes = {
  "GET /control/health": async () => ({
    ok: true,
    origin: ORIGIN,
    actor: `${ORIGIN}/users/${USERNAME}`,
  }),

  "GET /control/state": async () => {
    const follows = state.follows;
    const accepted = follows.filter((f) => f.state === "accepted");
    const last = accepted.at(-1);
    return {
      origin: ORIGIN,
      actor: `${ORIGIN}/users/${USERNAME}`,
      ...state,
      followAccepted: last != null,
      lastAccepted: last == null
        ? null
        : { followId: last.id, acceptId: last.acceptId, actor: last.object },
      notes: state.creates
        .filter((c) => c.object?.type === "Note")
        .map((c) => ({
          activityId: c.id,
          actor: c.actor,
          signature: c.signature,
          inbox: c.inbox,
          ...c.object,
        })),
    };
  },

  "POST /control/reset": async () => {
    for (const k of ["accepts", "rejects", "creates", "activities", "errors",
      "unverified", "sent", "sendErrors", "requests", "fetches"]) {
      state[k].length = 0;
    }
    return { ok: true };
  },

  "POST /control/lookup": async (ctx, body) => {
    const { obj, options } = await lookup(ctx, body.url ?? body.object ?? body.actor, body);
    return await objectInfo(obj, options);
  },

  "POST /control/follow": async (ctx, body) => {
    const { actor, info } = await lookupActor(ctx, body.actor, body);
    if (actor.inboxId == null) throw new HttpError(422, "actor has no inbox", { actor: info });
    if (info.publicKey == null) throw new HttpError(422, "actor has no publicKey", { actor: info });
    if (info.publicKey.owner !== info.id) {
      throw new HttpError(422, "publicKey owner is not the actor", { actor: info });
    }
    const { uuid, uri } = mint(ctx, Follow);
    const follow = keep(Follow, uuid, new Follow({
      id: uri,
      actor: ctx.getActorUri(USERNAME),
      object: actor.id,
      to: actor.id,
    }));
    const record = { id: uri.href, object: actor.id.href, state: "pending", acceptId: null };
    push(state.follows, record);
    try {
      const sent = await send(ctx, follow, [actor], body);
      return { followId: uri.href, actor: info, sent };
    } catch (e) {
      record.state = "failed";
      throw e;
    }
  },

  "POST /control/undo-follow": async (ctx, body) => {
    const result = await undoLocal(ctx, body, Follow, async (follow) => [
      (await lookupActor(ctx, follow.objectId.href, body)).actor,
    ]);
    const record = state.follows.find((f) => f.id === result.undone);
    if (record != null) record.state = "undone";
    return result;
  },

  "POST /control/post": (ctx, body) => createNote(ctx, body, false),
  "POST /control/reply": (ctx, body) => createNote(ctx, body, true),

  "POST /control/update": async (ctx, body) => {
    const uuid = uuidOf(Note, body.note ?? body.id);
    if (uuid == null) throw new HttpError(404, "no such local note");
    const old = stores.get("Note").get(uuid);
    const note = keep(Note, uuid, old.clone({
      content: body.content ?? old.content,
      updated: Temporal.Now.instant(),
    }));
    const { uuid: u, uri } = mint(ctx, Update);
    const update = keep(Update, u, new Update({
      id: uri,
      actor: ctx.getActorUri(USERNAME),
      object: note,
      tos: note.toIds,
      ccs: note.ccIds,
    }));
    const sent = await send(ctx, update, await recipientsOfNote(ctx, note, body), body);
    return { id: uri.href, noteId: note.id.href, sent };
  },

  "POST /control/delete": async (ctx, body) => {
    const uuid = uuidOf(Note, body.note ?? body.id);
    if (uuid == null) throw new HttpError(404, "no such local note");
    const note = stores.get("Note").get(uuid);
    const recipients = await recipientsOfNote(ctx, note, body);
    stores.get("Note").delete(uuid); // now 404 at its id
    const { uuid: u, uri } = mint(ctx, Delete);
    const del = keep(Delete, u, new Delete({
      id: uri,
      actor: ctx.getActorUri(USERNAME),
      object: new Tombstone({ id: note.id, deleted: Temporal.Now.instant() }),
      tos: note.toIds,
      ccs: note.ccIds,
    }));
    const sent = await send(ctx, del, recipients, body);
    return { id: uri.href, noteId: note.id.href, sent };
  },

  "POST /control/like": (ctx, body) => interact(ctx, body, Like),
  "POST /control/announce": (ctx, body) => interact(ctx, body, Announce),
  "POST /control/undo-like": (ctx, body) =>
    undoLocal(ctx, body, Like, (like) => authorOf(ctx, like.objectId.href, body)),
  "POST /control/undo-announce": (ctx, body) =>
    undoLocal(ctx, body, Announce, (a) => authorOf(ctx, a.objectId.href, body)),

  // Send an arbitrary activity (JSON-LD), signed by the peer, to actors.
  "POST /control/send": async (ctx, body) => {
    if (body.activity == null) throw new HttpError(400, "missing activity");
    const activity = await Activity.fromJsonLd(body.activity, ctx);
    const recipients = [];
    for (const url of asList(body.to)) recipients.push((await lookupActor(ctx, url, body)).actor);
    if (recipients.length === 0) throw new HttpError(400, "missing to");
    const sent = await send(ctx, activity, recipients, body);
    return { id: href(activity.id), sent };
  },
};

async function control(request, url) {
  const key = `${request.method} ${url.pathname}`;
  const route = routes[key];
  if (route == null) return json(404, { error: `no control route ${key}` });
  let body = {};
  if (request.method === "POST") {
    const t = await request.text();
    if (t.trim() !== "") {
      try {
        body = JSON.parse(t);
      } catch {
        return json(400, { error: "body is not JSON" });
      }
    }
  }
  const http = [];
  try {
    const result = await als.run({ http }, () => route(controlContext(), body));
    return json(200, result);
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 500;
    if (status >= 500 && !(e instanceof HttpError)) {
      log.error("Control {key} failed: {error}", { key, error: e });
    }
    return json(status, { ...errorInfo(e), ...(e.extra ?? {}), http });
  }
}

function json(status, value) {
  return new Response(JSON.stringify(value, null, 2), {
    status,
    headers: { "content-type": "application/json" },
  });
}

// ---------------------------------------------------------------------------
// node:http <-> Fetch API bridge

async function handle(req, res) {
  const host = req.headers.host ?? `localhost:${port}`;
  const url = new URL(req.url, `http://${host}`);
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value != null) headers.set(name, value);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(url, {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
  });

  let response;
  if (url.pathname.startsWith("/control/")) {
    response = await control(request, url);
  } else {
    let raw = null;
    if (hasBody && body.length > 0) {
      try {
        raw = JSON.parse(body.toString("utf8"));
      } catch { /* Fedify answers 400 */ }
    }
    const signature = signatureInfo(headers);
    const entry = {
      method: req.method,
      path: url.pathname + url.search,
      accept: headers.get("accept"),
      contentType: headers.get("content-type"),
      userAgent: headers.get("user-agent"),
      signature,
      activityType: raw?.type ?? null,
      activityId: raw?.id ?? null,
    };
    response = await als.run({ raw, signature, http: [] }, () =>
      federation.fetch(request, {
        contextData: undefined,
        onNotFound: () => new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } }),
        onNotAcceptable: () =>
          new Response("Not acceptable: ask for application/activity+json\n", {
            status: 406,
            headers: { "content-type": "text/plain", vary: "Accept" },
          }),
      }));
    entry.status = response.status;
    push(state.requests, entry);
    log.info("{method} {path} -> {status} ({spec})", {
      method: req.method,
      path: entry.path,
      status: response.status,
      spec: signature.spec,
    });
  }

  const outHeaders = {};
  response.headers.forEach((v, k) => {
    outHeaders[k] = v;
  });
  const out = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, outHeaders);
  res.end(req.method === "HEAD" ? undefined : out);
}

// ---------------------------------------------------------------------------

function shutdown(signal) {
  log.info("Received {signal}; shutting down", { signal });
  server.close();
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Optionally exit when the parent (the Rust test) closes our stdin (it does
// when it dies), so no orphan peer stays behind.
if (env.PEER_EXIT_ON_STDIN_EOF === "1") {
  process.stdin.on("end", () => shutdown("stdin EOF"));
  process.stdin.resume();
}

log.info("Peer actor {actor} (first knock {spec}, Node {node}, Fedify 2.3.6)", {
  actor: `${ORIGIN}/users/${USERNAME}`,
  spec: FIRST_KNOCK,
  node: process.versions.node,
});
process.stdout.write(`READY ${ORIGIN}\n`);
