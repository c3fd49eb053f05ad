/*! tagmail.js 1.0.0 - site tag for the tagmail tracking API (Segment-compatible). MIT licence. */
(() => {
  "use strict";
  const w = window, d = document, nav = navigator, loc = location, VERSION = "1.0.0";
  const stub = w.tagmail;
  if (stub && stub.loaded) return; // included twice

  const MAX_QUEUE = 100, MAX_AGE = 864e5, MAX_BYTES = 32000; // messages, 24 h, the API's limit
  const BASE = 1e3, CAP = 3e5, LEASE = 15e3; // backoff 1 s .. 5 min; lease of a message being sent
  const Q = "tm_q", AID = "tm_aid", UID = "tm_uid";

  // The API host defaults to the origin this script was served from.
  const me = d.currentScript || [...d.scripts].find((s) => /\/tagmail(\.min)?\.js/.test(s.src));
  let host = me && me.src ? new URL(me.src, loc.href).origin : loc.origin;
  let writeKey = null, at = 0, timer = 0, inflight = null, hidden = false;
  const early = []; // messages made before load() gave the write key

  // First-party storage: localStorage, else memory (blocked, or full: a key then lives as long as the page).
  const mem = {};
  const ls = (() => {
    try {
      localStorage.setItem("tm_t", "1");
      localStorage.removeItem("tm_t");
      return localStorage;
    } catch (e) { return null; }
  })();
  const get = (k) => {
    try { return ls && !(k in mem) ? ls.getItem(k) : mem[k] || null; } catch (e) { return null; }
  };
  const set = (k, v) => {
    try {
      if (!ls || k in mem) throw 0;
      if (v == null) ls.removeItem(k); else ls.setItem(k, v);
    } catch (e) { mem[k] = v; }
  };
  // Only without localStorage does the anonymous id go into a (first-party) cookie.
  const cookie = (v) => {
    const secure = loc.protocol === "https:" ? "; Secure" : "";
    if (v) d.cookie = `${AID}=${v}; Max-Age=31536000; Path=/; SameSite=Lax${secure}`;
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
    path: loc.pathname, referrer: d.referrer, search: loc.search, title: d.title, url: loc.href.split("#")[0],
  });
  const context = () => {
    let timezone; try { timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old */ }
    const library = { name: "tagmail.js", version: VERSION };
    return { library, page: pageInfo(), userAgent: nav.userAgent, locale: nav.language, timezone };
  };

  // The retry queue, in storage so a message outlives a failed request, a closed tab or a reload.
  // Item: {u: url, k: write key, m: message, t: made at (ms), n: attempts, next: next attempt (ms)}.
  const read = () => { try { return JSON.parse(get(Q)) || []; } catch (e) { return []; } };
  const update = (fn) => {
    const now = Date.now(), q = fn(read().filter((x) => now - x.t < MAX_AGE));
    set(Q, q.length ? JSON.stringify(q.slice(-MAX_QUEUE)) : null); // over the bound, the oldest go
  };
  const backoff = (n) => Math.min(CAP, BASE * 2 ** (n - 1)) * (0.5 + Math.random() / 2); // with jitter
  const body = (it) => JSON.stringify(Object.assign({}, it.m, { sentAt: new Date().toISOString(), writeKey: it.k }));

  // Transport. While the page is visible, fetch(keepalive) is the primary path: unlike a beacon it
  // tells the outcome, so a failure (network error, 408, 429, 5xx) stays queued for a retry, and
  // keepalive lets a request started just before a navigation finish. When the page is hidden or
  // unloads, what still waits goes out with sendBeacon, the most reliable way to send at unload;
  // it stays queued (a beacon cannot tell success) and is sent again later with the same messageId,
  // which the server dedupes. text/plain keeps both CORS "simple" requests: no preflight.
  // One message at a time, oldest first, so the server sees a visitor's actions in order.
  const post = async (it) => {
    try {
      const r = await fetch(it.u, {
        method: "POST", body: body(it), keepalive: true, mode: "cors", credentials: "omit",
        headers: { "Content-Type": "text/plain" },
      });
      const text = r.ok ? "" : await r.text().catch(() => "");
      return { status: r.status, text, wait: (+r.headers.get("Retry-After") || 0) * 1e3 };
    } catch (e) { return { status: 0, wait: 0 }; } // network or CORS error, keepalive quota
  };
  const beacon = (it) => {
    try { return nav.sendBeacon(it.u, new Blob([body(it)], { type: "text/plain" })); } catch (e) { return false; }
  };

  const flush = async () => {
    if (inflight) return; // its end calls flush again
    clearTimeout(timer);
    const now = Date.now();
    let it = null;
    update((q) => q.map((x) => { if (!it && x.next <= now) { it = x; x.next = now + LEASE; } return x; }));
    if (!it) return schedule();
    const id = (inflight = it.m.messageId);
    const r = w.fetch ? await post(it) : { status: beacon(it) ? 200 : 0, wait: 0 };
    inflight = null;
    const s = r.status, retry = s === 0 || s === 408 || s === 429 || s >= 500;
    if (!retry && (s < 200 || s > 299)) console.warn("tagmail: message dropped", s, r.text); // retry can't fix it
    const later = (x) => Object.assign(x, { n: x.n + 1, next: Date.now() + Math.max(backoff(x.n + 1), r.wait) });
    const mine = (x) => x.m.messageId === id;
    update((q) => (retry ? q.map((x) => (mine(x) ? later(x) : x)) : q.filter((x) => !mine(x))));
    flush();
  };
  const schedule = () => {
    const q = read();
    if (q.length) timer = setTimeout(flush, Math.max(0, Math.min(...q.map((x) => x.next)) - Date.now()));
  };
  const onHide = () => {
    if (hidden) return; // pagehide after visibilitychange: done already
    hidden = true;
    update((q) => q.map((x) => {
      if (x.m.messageId === inflight) return x; // its keepalive request goes on by itself
      if (!beacon(x)) post(x);
      x.n += 1;
      x.next = Date.now() + backoff(x.n);
      return x;
    }));
  };

  const enqueue = (it) => {
    if (new Blob([JSON.stringify(it.m)]).size > MAX_BYTES) return console.warn("tagmail: message over 32 KB dropped");
    update((q) => q.concat(it));
    flush();
  };
  const send = (type, fields) => {
    const m = Object.assign({ type, messageId: uuid(), anonymousId: anonId }, userId ? { userId } : {}, fields);
    Object.assign(m, { timestamp: new Date(at || Date.now()).toISOString(), context: context() });
    const it = { m, t: Date.now(), n: 0, next: 0 };
    if (writeKey) enqueue(Object.assign(it, { u: `${host}/v1/${type}`, k: writeKey })); else early.push(it);
  };

  const api = {
    loaded: true,
    VERSION,
    load(key, opts) {
      writeKey = key;
      if (opts && opts.host) host = String(opts.host).replace(/\/+$/, "");
      early.splice(0).forEach((it) => enqueue(Object.assign(it, { u: `${host}/v1/${it.m.type}`, k: key })));
      flush(); // what earlier pages left
    },
    identify(id, traits) {
      if (id && typeof id === "object") [traits, id] = [id, null];
      if (id != null && id !== "") set(UID, (userId = String(id)));
      send("identify", { traits: traits || {} });
    },
    track(event, properties) {
      if (typeof event !== "string" || !event) return console.warn("tagmail: track() needs an event name");
      send("track", { event, properties: properties || {} });
    },
    page(name, properties) {
      if (name && typeof name === "object") [properties, name] = [name, null];
      const props = Object.assign(pageInfo(), properties);
      send("page", Object.assign(name ? { name: String(name) } : {}, { properties: props }));
    },
    reset() { userId = null; set(UID, null); newAnon(); },
    user: () => ({ userId, anonymousId: anonId }),
  };

  w.tagmail = api;
  addEventListener("pagehide", onHide);
  addEventListener("pageshow", () => { hidden = false; });
  addEventListener("online", flush);
  d.addEventListener("visibilitychange", () => {
    if (d.visibilityState === "hidden") return onHide();
    hidden = false;
    flush();
  });

  // Replay what the snippet queued as [method, args, time]: load() first, so the write key is known.
  const calls = Array.isArray(stub) ? stub : [];
  calls.filter((c) => c[0] === "load").concat(calls.filter((c) => c[0] !== "load")).forEach((c) => {
    at = c[2] || 0;
    if (typeof api[c[0]] === "function") api[c[0]](...(c[1] || []));
    at = 0;
  });
})();
