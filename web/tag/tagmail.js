/*! tagmail.js 1.0.0 - site tag for the tagmail tracking API (Segment-compatible). MIT licence. */
(() => {
  "use strict";
  const w = window, d = document, nav = navigator, VERSION = "1.0.0";
  const stub = w.tagmail;
  if (stub && stub.loaded) return; // included twice

  const MAX_QUEUE = 100, MAX_AGE = 864e5, MAX_BYTES = 32000; // messages, 24 h, Segment's limit
  const BASE = 1e3, CAP = 3e5, LEASE = 15e3; // backoff 1 s .. 5 min; in-flight lease for other tabs
  const Q = "tm_q", AID = "tm_aid", UID = "tm_uid";

  // The API host defaults to the origin this script was served from.
  const me = d.currentScript || [...d.scripts].find((s) => /\/tagmail(\.min)?\.js/.test(s.src));
  let host = me && me.src ? new URL(me.src, location.href).origin : location.origin;
  let writeKey = null, at = 0, timer = 0, inflight = null, hidden = false;
  const early = []; // messages made before load() gave a write key

  // First-party storage: localStorage, or memory when it is blocked or full (then a key lives as
  // long as the page does).
  const mem = {};
  const ls = (() => { try { localStorage.setItem(Q + "_t", "1"); localStorage.removeItem(Q + "_t"); return localStorage; } catch (e) { return null; } })();
  const get = (k) => { try { return ls && !(k in mem) ? ls.getItem(k) : mem[k] || null; } catch (e) { return null; } };
  const set = (k, v) => {
    try { if (!ls || k in mem) throw 0; v == null ? ls.removeItem(k) : ls.setItem(k, v); } catch (e) { mem[k] = v; }
  };
  // Only when localStorage is unavailable does the anonymous id go into a first-party cookie.
  const cookie = (v) => {
    if (v) d.cookie = `${AID}=${v}; Max-Age=31536000; Path=/; SameSite=Lax${location.protocol === "https:" ? "; Secure" : ""}`;
    const m = new RegExp(`(?:^|; )${AID}=([^;]+)`).exec(d.cookie);
    return m ? m[1] : null;
  };

  const uuid = () => {
    const c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b); else b.forEach((_, i) => { b[i] = Math.random() * 256; });
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128; // version 4, RFC 4122 variant
    const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  let userId = get(UID), anonId = ls ? get(AID) : cookie();
  const newAnon = () => { anonId = uuid(); if (ls) set(AID, anonId); else cookie(anonId); };
  if (!anonId) newAnon();

  const pageInfo = () => ({
    path: location.pathname, referrer: d.referrer, search: location.search,
    title: d.title, url: location.href.split("#")[0],
  });
  const context = () => {
    let tz; try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old browser */ }
    return { library: { name: "tagmail.js", version: VERSION }, page: pageInfo(), userAgent: nav.userAgent, locale: nav.language, timezone: tz };
  };

  // Retry queue, persisted so that a message survives a failed request, a closed tab or a reload.
  // Item: {u: url, k: writeKey, m: message, t: created ms, n: attempts, next: ms of next attempt}.
  const read = () => { try { return JSON.parse(get(Q)) || []; } catch (e) { return []; } };
  const update = (fn) => {
    const now = Date.now(), q = fn(read().filter((x) => now - x.t < MAX_AGE));
    set(Q, q.length ? JSON.stringify(q.slice(-MAX_QUEUE)) : null); // over the bound: drop the oldest
    return q;
  };
  const backoff = (n) => Math.min(CAP, BASE * 2 ** (n - 1)) * (0.5 + Math.random() / 2); // "equal jitter"
  const body = (it) => JSON.stringify(Object.assign({}, it.m, { sentAt: new Date().toISOString(), writeKey: it.k }));

  // Transport. While the page is visible, fetch(keepalive) is the primary path: unlike a beacon it
  // reports the status, so failures (network error, 429, 5xx) stay queued and are retried; keepalive
  // lets a request started just before navigation finish. Text/plain keeps it a CORS "simple"
  // request (no preflight). When the page is hidden or unloading, queued messages go out with
  // sendBeacon, which browsers deliver most reliably at unload; they stay queued (a beacon cannot
  // tell success) and are resent later under the same messageId, which the server dedupes.
  // Messages go one at a time, oldest first, so the server sees them in the order they were made.
  const post = async (it) => {
    try {
      const r = await fetch(it.u, { method: "POST", body: body(it), keepalive: true, mode: "cors", credentials: "omit", headers: { "Content-Type": "text/plain" } });
      return { status: r.status, text: r.ok ? "" : await r.text().catch(() => ""), retryAfter: +r.headers.get("Retry-After") || 0 };
    } catch (e) { return { status: 0 }; } // network or CORS failure, or the keepalive quota
  };
  const beacon = (it) => { try { return nav.sendBeacon(it.u, new Blob([body(it)], { type: "text/plain" })); } catch (e) { return false; } };

  const flush = async () => {
    if (inflight) return;
    clearTimeout(timer);
    const now = Date.now();
    let it = null;
    update((q) => q.map((x) => { if (!it && x.next <= now) { it = x; x.next = now + LEASE; } return x; }));
    if (!it) return schedule();
    const id = (inflight = it.m.messageId), r = w.fetch ? await post(it) : { status: beacon(it) ? 200 : 0 };
    inflight = null;
    const s = r.status, retry = s === 0 || s === 408 || s === 429 || s >= 500;
    if (!retry && (s < 200 || s >= 300)) console.warn("tagmail: message dropped", s, r.text || "");
    update((q) => (retry
      ? q.map((x) => (x.m.messageId === id ? Object.assign(x, { n: x.n + 1, next: Date.now() + Math.max(backoff(x.n + 1), (r.retryAfter || 0) * 1e3) }) : x))
      : q.filter((x) => x.m.messageId !== id)));
    flush();
  };
  const schedule = () => {
    const q = read();
    if (q.length) timer = setTimeout(flush, Math.max(0, Math.min(...q.map((x) => x.next)) - Date.now()));
  };
  const onHide = () => {
    if (hidden) return; // pagehide after visibilitychange: already done
    hidden = true;
    update((q) => q.map((x) => {
      if (x.m.messageId === inflight) return x; // a keepalive request goes on by itself
      if (!beacon(x)) post(x);
      x.n += 1; x.next = Date.now() + backoff(x.n);
      return x;
    }));
  };

  const enqueue = (it) => {
    const json = JSON.stringify(it.m);
    if (new Blob([json]).size > MAX_BYTES) return console.warn("tagmail: message over 32 KB dropped", it.m.type);
    update((q) => q.concat(it));
    flush();
  };
  const send = (type, fields) => {
    const m = Object.assign({ type, messageId: uuid(), anonymousId: anonId }, userId ? { userId } : {}, fields,
      { timestamp: new Date(at || Date.now()).toISOString(), context: context() });
    const it = { m, t: Date.now(), n: 0, next: 0 };
    if (!writeKey) return early.push(it);
    enqueue(Object.assign(it, { u: `${host}/v1/${type}`, k: writeKey }));
  };

  const api = {
    loaded: true, VERSION,
    load(key, opts) {
      writeKey = key;
      if (opts && opts.host) host = String(opts.host).replace(/\/+$/, "");
      early.splice(0).forEach((it) => enqueue(Object.assign(it, { u: `${host}/v1/${it.m.type}`, k: key })));
      flush(); // messages left by earlier pages
    },
    identify(id, traits) {
      if (id && typeof id === "object") { traits = id; id = null; }
      if (id != null && id !== "") { userId = String(id); set(UID, userId); }
      send("identify", { traits: traits || {} });
    },
    track(event, properties) {
      if (typeof event !== "string" || !event) return console.warn("tagmail: track() needs an event name");
      send("track", { event, properties: properties || {} });
    },
    page(name, properties) {
      if (name && typeof name === "object") { properties = name; name = null; }
      send("page", Object.assign(name ? { name: String(name) } : {}, { properties: Object.assign(pageInfo(), properties) }));
    },
    reset() { userId = null; set(UID, null); newAnon(); },
    user: () => ({ userId, anonymousId: anonId }),
  };

  w.tagmail = api;
  addEventListener("pagehide", onHide);
  d.addEventListener("visibilitychange", () => (d.visibilityState === "hidden" ? onHide() : ((hidden = false), flush())));
  addEventListener("pageshow", () => { hidden = false; });
  addEventListener("online", flush);

  // Replay what the snippet's stub queued ([method, args, time]), load() first so the key is known.
  const calls = Array.isArray(stub) ? stub : [];
  calls.filter((c) => c[0] === "load").concat(calls.filter((c) => c[0] !== "load")).forEach((c) => {
    at = c[2] || 0;
    if (typeof api[c[0]] === "function") api[c[0]](...(c[1] || []));
    at = 0;
  });
})();
