// Shared helpers of every panel page: the session token (in memory), storage that may be
// refused, and JSON API calls.
//
// Inside a CRM the panel is a third-party frame: the browser may refuse sessionStorage and
// cookies (any access throws a SecurityError). So the session token lives in memory only: it
// comes from the signed entry (?t=), is refreshed before it expires (POST
// /api/v1/session/refresh) and can be handed over again by the CRM widget that opened the
// panel (postMessage {type: "salescoach:token", token}). Storage is only ever a nice-to-have.
(function () {
  const params = new URLSearchParams(location.search);
  // An entry redirect carries a one-time ?code= the server exchanged for this page's
  // session (data-token); drop the spent code from the address bar, keeping reloads working.
  let current = params.get("t") || document.body.dataset.token || "";
  if (params.has("code")) {
    params.delete("code");
    if (current) params.set("t", current);
    try { history.replaceState(history.state, "", location.pathname + "?" + params.toString() + location.hash); } catch (e) { /* sandboxed frame */ }
  }
  const listeners = [];
  const token = () => current;

  // ------------------------------------------------------------ storage that may be refused
  const memory = new Map();
  function backing() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }
  /** sessionStorage when the browser allows it, an in-memory map otherwise; never throws. */
  const store = {
    get(key) {
      if (memory.has(key)) return memory.get(key);
      try { const s = backing(); return s ? s.getItem(key) : null; } catch (e) { return null; }
    },
    set(key, value) {
      memory.set(key, String(value));
      try { const s = backing(); if (s) s.setItem(key, String(value)); } catch (e) { /* optional */ }
    },
    remove(key) {
      memory.delete(key);
      try { const s = backing(); if (s) s.removeItem(key); } catch (e) { /* optional */ }
    },
    getJSON(key) {
      try { return JSON.parse(store.get(key) || "null"); } catch (e) { return null; }
    },
  };

  // ------------------------------------------------------------ the session token
  function setToken(next) {
    if (!next || next === current) return;
    current = next;
    // Links between the panel's pages carry the session in ?t=; keep them current.
    for (const a of document.querySelectorAll("a[href*='t=']")) {
      try {
        const url = new URL(a.href, location.href);
        if (url.origin === location.origin && url.searchParams.has("t")) {
          url.searchParams.set("t", next);
          a.href = url.pathname + url.search + url.hash;
        }
      } catch (e) { /* not a URL we own */ }
    }
    listeners.forEach((cb) => { try { cb(next); } catch (e) { console.warn(e); } });
    scheduleRefresh(refreshEvery);
  }

  let refreshTimer = null;
  let refreshEvery = 0;
  function scheduleRefresh(seconds) {
    if (refreshTimer) clearTimeout(refreshTimer);
    if (!seconds) return;
    refreshTimer = setTimeout(() => { refresh().catch(() => {}); }, Math.min(seconds * 1000, 2 ** 30));
  }

  /** A fresh token for the same rep, tenant and record, while the current one is valid. */
  async function refresh(candidate) {
    const resp = await fetch("/api/v1/session/refresh", {
      method: "POST", headers: { Authorization: "Bearer " + (candidate || current) } });
    if (!resp.ok) throw Object.assign(new Error("session refresh refused"), { status: resp.status });
    const data = await resp.json();
    const body = document.body.dataset;
    if (body.tenant && (data.tenant_id !== body.tenant || String(data.user_id) !== body.user)) {
      throw new Error("a session of another account was handed over; ignored");
    }
    refreshEvery = Math.max(30, Math.floor((data.expires_in || 0) * 0.8));
    setToken(data.token);
    scheduleRefresh(refreshEvery);
    return data.token;
  }

  // The widget (HubSpot card, Salesforce component) or the window that opened us may hand a
  // new token over; we only accept it once the server confirms it is the same rep's.
  const handover = [];
  window.addEventListener("message", (ev) => {
    const msg = ev.data;
    if (!msg || typeof msg !== "object" || msg.type !== "salescoach:token" || typeof msg.token !== "string") return;
    if (ev.source !== window.parent && ev.source !== window.opener) return;
    refresh(msg.token).then(() => { handover.splice(0).forEach((r) => r(true)); }).catch(() => {});
  });

  /** Ask the CRM widget around us for a new token; resolves true if one arrived in time. */
  function askForToken(waitMs = 3000) {
    const peers = [window.parent !== window ? window.parent : null, window.opener].filter(Boolean);
    if (!peers.length) return Promise.resolve(false);
    return new Promise((resolve) => {
      handover.push(resolve);
      peers.forEach((p) => { try { p.postMessage({ type: "salescoach:token-request" }, "*"); } catch (e) { /* closed */ } });
      setTimeout(() => resolve(false), waitMs);
    });
  }

  const EXPIRED = "Your Sales Coach session has expired. Reload the CRM record page (or open Sales Coach from the record again) to continue; nothing you did is lost.";

  /** Show the one sentence a rep needs when the session cannot be renewed. */
  function sessionExpired() {
    let bar = document.getElementById("session-expired");
    if (!bar) {
      bar = el("div", { id: "session-expired", class: "error session-banner", role: "alert" }, EXPIRED);
      document.body.prepend(bar);
    }
    return EXPIRED;
  }

  /** fetch JSON from the API with the session; throws Error(message) on a 4xx/5xx answer.
   * A 401 first tries to renew the session (refresh, then the widget) and retries once. */
  async function api(path, options = {}, retried = false) {
    const opts = { ...options, headers: { ...(options.headers || {}), Authorization: "Bearer " + token() } };
    if (opts.body && typeof opts.body !== "string" && !(opts.body instanceof FormData)) {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, opts);
    const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
    if (resp.status === 401 && !retried) {
      const renewed = await refresh().then(() => true, () => askForToken());
      if (renewed) return api(path, options, true);
      const err = new Error(sessionExpired());
      err.status = 401; err.code = "session_expired";
      throw err;
    }
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || resp.statusText || `HTTP ${resp.status}`);
      err.status = resp.status; err.code = data && data.error && data.error.code;
      throw err;
    }
    return data;
  }

  /** Small DOM builder: el("div", {class: "x"}, "text", child). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const ttl = Number(document.body.dataset.sessionTtl || 0);
  if (current && ttl) { refreshEvery = Math.max(30, Math.floor(ttl * 0.8)); scheduleRefresh(refreshEvery); }

  window.SalesCoach = {
    api, el, token, store, refresh, askForToken, sessionExpired,
    onToken: (cb) => listeners.push(cb),
  };
})();
