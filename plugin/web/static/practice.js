// Practice tab: pick a scenario, answer the simulated buyer (typing or voice), see per-reply
// feedback, the end-of-session scorecard, and progress across sessions.
(function () {
  const { api, el } = window.SalesCoach;
  const $ = (id) => document.getElementById(id);
  const root = $("practice");
  const state = { session: null, busy: false };

  function showError(err) {
    const box = $("practice-error");
    box.textContent = err ? (err.message || String(err)) : "";
    box.hidden = !err;
  }

  function qualityClass(score) { return score >= 70 ? "good" : score >= 45 ? "partial" : "weak"; }

  // Scenarios ---------------------------------------------------------------------------
  async function loadScenarios() {
    const list = $("scenario-list");
    try {
      const data = await api("/api/v1/practice/scenarios");
      list.replaceChildren(...data.scenarios.map((s) => el("div", { class: "card scenario", "data-scenario": s.id },
        el("h3", {}, s.title),
        el("div", { class: "meta" }, `${s.persona.name}, ${s.persona.role} · ${s.persona.company} · ${s.difficulty}`),
        el("p", { class: "muted" }, s.summary),
        el("button", { type: "button", id: "start-" + s.id, onclick: () => start(s.id) }, "Start"))));
    } catch (err) { showError(err); }
  }

  async function offerResume() {
    try {
      const hist = await api("/api/v1/practice/sessions?limit=1");
      const last = hist.items[0];
      if (!last || last.status !== "active") return;
      $("pick").prepend(el("div", { class: "card resume", id: "resume" },
        el("span", {}, `You have an unfinished session: ${last.title}. `),
        el("button", { type: "button", id: "resume-btn", onclick: async () => {
          try { openSession(await api(`/api/v1/practice/sessions/${last.id}`)); $("resume").remove(); }
          catch (err) { showError(err); }
        } }, "Resume")));
    } catch (err) { showError(err); }
  }

  async function start(scenarioId) {
    showError(null);
    try {
      const session = await api("/api/v1/practice/sessions", { method: "POST", body: { scenario_id: scenarioId } });
      openSession(session);
    } catch (err) { showError(err); }
  }

  // Session -----------------------------------------------------------------------------
  function openSession(session) {
    state.session = session;
    $("pick").hidden = true;
    $("scorecard").hidden = true;
    $("session").hidden = false;
    $("session-title").textContent = session.scenario.title;
    const p = session.scenario.persona;
    $("session-persona").textContent = `${p.name}, ${p.role} at ${p.company} · ${p.temperament}`;
    $("chat").replaceChildren();
    $("feedback").replaceChildren();
    for (const r of session.replies) {
      addMsg("buyer", r.buyer_text);
      addMsg("rep", r.text);
      renderFeedback(r);
    }
    addMsg("buyer", session.buyer.text);
    updateStatus(session);
    $("reply-text").focus();
  }

  function addMsg(kind, text) {
    const name = kind === "buyer" ? state.session.scenario.persona.name : "You";
    const node = el("div", { class: "msg " + kind }, el("span", { class: "who" }, name), text);
    $("chat").append(node);
    $("chat").scrollTop = $("chat").scrollHeight;
  }

  function updateStatus(session) {
    const b = session.buyer;
    $("patience").textContent = b.ended ? "Call ended" : `Patience: ${b.patience}`;
    const active = session.status === "active";
    $("reply-text").disabled = !active;
    $("send-btn").disabled = !active;
    if ($("mic-btn")) $("mic-btn").disabled = !active;
    $("finish-btn").disabled = !active;
  }

  function dimension(label, d) {
    return el("div", { class: "dim", "data-dim": label.toLowerCase() },
      el("div", { class: "label" }, el("span", {}, label), el("strong", {}, `${d.score}/100`)),
      el("div", { class: "bar" }, el("span", { class: qualityClass(d.score), style: `width:${d.score}%` })),
      el("div", { class: "reason" }, d.reason));
  }

  function renderFeedback(r) {
    const card = el("div", { class: "card scorecard-reply", "data-seq": r.seq },
      el("div", { class: "head" },
        el("strong", {}, `Reply ${r.seq}${r.source === "voice" ? " (voice)" : ""} · ${r.overall}/100`),
        el("span", { class: "quality " + r.quality }, r.quality)),
      dimension("Tone", r.tone), dimension("Content", r.content), dimension("Strategy", r.strategy),
      ...(r.improved.trim() === r.text.trim()
        ? [el("div", { class: "muted" }, "Nothing to add: this answer already covers it.")]
        : [el("div", { class: "muted" }, "A stronger answer:"), el("div", { class: "improved" }, r.improved)]));
    $("feedback").prepend(card);
  }

  async function sendReply(text, audioBlob) {
    if (state.busy) return;
    showError(null);
    state.busy = true;
    $("send-btn").disabled = true;
    try {
      const sid = state.session.id;
      let result;
      if (audioBlob) {
        const form = new FormData();
        form.append("audio", audioBlob, "reply.wav");
        result = await api(`/api/v1/practice/sessions/${sid}/replies/audio`, { method: "POST", body: form });
      } else {
        result = await api(`/api/v1/practice/sessions/${sid}/replies`, { method: "POST", body: { text } });
      }
      addMsg("rep", result.reply.text);
      renderFeedback(result.reply);
      $("reply-text").value = "";
      updateCount();
      state.session = result.session;
      if (result.buyer.ended) {
        addMsg("buyer", result.buyer.text);
        endOfCall(result.session);
      } else {
        addMsg("buyer", result.buyer.text);
      }
      updateStatus(result.session);
    } catch (err) {
      showError(err);  // the typed reply stays in the box: nothing is lost
      if (err.code === "session_finished") {
        state.session = await api(`/api/v1/practice/sessions/${state.session.id}`);
        updateStatus(state.session);
        renderScorecard(state.session.scorecard);
      }
    } finally {
      state.busy = false;
      if (state.session && state.session.status === "active") $("send-btn").disabled = false;
    }
  }

  function endOfCall(session) {
    const won = session.scorecard && session.scorecard.outcome === "next_step_agreed";
    $("chat").append(el("div", { class: "msg end" + (won ? "" : " lost") },
      session.scorecard ? session.scorecard.outcome_label : "Session finished"));
    renderScorecard(session.scorecard);
    loadProgress();
  }

  async function finish() {
    if (!state.session) return;
    try {
      const session = await api(`/api/v1/practice/sessions/${state.session.id}/finish`, { method: "POST" });
      state.session = session;
      updateStatus(session);
      endOfCall(session);
    } catch (err) { showError(err); }
  }

  // Scorecard ---------------------------------------------------------------------------
  function renderScorecard(sc) {
    const box = $("scorecard");
    if (!sc) { box.hidden = true; return; }
    const stat = (label, v) => el("div", { class: "card" }, el("div", { class: "muted" }, label),
      el("div", { class: "score" }, v === null || v === undefined ? "–" : String(v)));
    box.replaceChildren(
      el("h2", {}, "Scorecard"),
      el("p", {}, el("strong", {}, sc.outcome_label), ` · ${sc.replies} replies`),
      el("div", { class: "sc-grid" }, stat("Overall", sc.overall), stat("Tone", sc.averages.tone),
        stat("Content", sc.averages.content), stat("Strategy", sc.averages.strategy)),
      el("h3", {}, "Objections"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Buyer said"), el("th", {}, "Result"),
        el("th", {}, "Tries"), el("th", {}, "Best"))),
        el("tbody", {}, sc.objections.map((o) => el("tr", {},
          el("td", {}, o.label), el("td", { class: "status-" + o.status }, o.status.replace("_", " ")),
          el("td", {}, String(o.attempts)), el("td", {}, o.best_score === null ? "–" : String(o.best_score)))))),
      el("div", { class: "grid" },
        el("div", {}, el("h3", {}, "Strengths"), el("ul", {}, sc.strengths.map((s) => el("li", {}, s)))),
        el("div", {}, el("h3", {}, "Practise next"), el("ul", {}, sc.practise_next.map((s) => el("li", {}, s))))),
      el("button", { type: "button", id: "again-btn", onclick: () => { $("session").hidden = true; box.hidden = true; $("pick").hidden = false; } }, "Practise again"));
    box.hidden = false;
    box.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // Progress ----------------------------------------------------------------------------
  async function loadProgress() {
    try {
      const p = await api("/api/v1/practice/progress");
      const box = $("progress");
      if (!p.count) { box.replaceChildren(el("p", { class: "muted" }, "No finished sessions yet.")); return; }
      const summary = el("p", {}, `${p.count} session${p.count === 1 ? "" : "s"} · average ${p.average ?? "–"} · best ${p.best ?? "–"}` +
        (p.trend === null ? "" : ` · trend ${p.trend >= 0 ? "+" : ""}${p.trend}`) +
        (p.focus ? ` · focus on ${p.focus}` : ""));
      const table = el("table", {}, el("thead", {}, el("tr", {}, ["Scenario", "Sessions", "Last", "Best", "Average"].map((h) => el("th", {}, h)))),
        el("tbody", {}, p.scenarios.map((s) => el("tr", {}, el("td", {}, s.title), el("td", {}, String(s.sessions)),
          el("td", {}, String(s.last ?? "–")), el("td", {}, String(s.best ?? "–")), el("td", {}, String(s.average ?? "–"))))));
      box.replaceChildren(summary, chart(p.sessions), table);
    } catch (err) { showError(err); }
  }

  function chart(sessions) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 600, H = 180, L = 30, B = 20, T = 10, R = 10;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", "progress-chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Overall score per session");
    const mk = (tag, attrs, text) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; svg.append(n); return n; };
    for (const v of [0, 50, 100]) {
      const y = T + (H - T - B) * (1 - v / 100);
      mk("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e4e7ec" });
      mk("text", { x: 4, y: y + 3 }, String(v));
    }
    const pts = sessions.filter((s) => s.overall !== null).map((s, i, arr) => {
      const x = L + (arr.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (arr.length - 1));
      const y = T + (H - T - B) * (1 - s.overall / 100);
      return { x, y, s };
    });
    if (pts.length > 1) mk("polyline", { points: pts.map((p) => `${p.x},${p.y}`).join(" "), fill: "none", stroke: "#2f6fed", "stroke-width": 2 });
    for (const p of pts) {
      const c = mk("circle", { cx: p.x, cy: p.y, r: 4, fill: "#2f6fed", "data-score": p.s.overall });
      const title = document.createElementNS(NS, "title");
      title.textContent = `${p.s.title}: ${p.s.overall}`;
      c.append(title);
    }
    return svg;
  }

  // Voice: record PCM with Web Audio and upload a 16 kHz mono WAV -------------------------
  const rec = { ctx: null, stream: null, node: null, chunks: [], rate: 48000 };

  async function toggleMic() {
    const btn = $("mic-btn");
    if (rec.ctx) {
      btn.classList.remove("recording");
      btn.textContent = "Answer by voice";
      const blob = encodeWav(rec.chunks, rec.rate);
      rec.node.disconnect(); rec.stream.getTracks().forEach((t) => t.stop()); await rec.ctx.close();
      rec.ctx = null;
      await sendReply("", blob);
      return;
    }
    try {
      rec.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) { showError(new Error("Microphone not available: " + err.message)); return; }
    rec.ctx = new AudioContext();
    rec.rate = rec.ctx.sampleRate;
    rec.chunks = [];
    const src = rec.ctx.createMediaStreamSource(rec.stream);
    rec.node = rec.ctx.createScriptProcessor(4096, 1, 1);
    rec.node.onaudioprocess = (e) => rec.chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    src.connect(rec.node); rec.node.connect(rec.ctx.destination);
    btn.classList.add("recording");
    btn.textContent = "Stop & send";
  }

  function encodeWav(chunks, rate) {
    const target = 16000;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const input = new Float32Array(total);
    let off = 0;
    for (const c of chunks) { input.set(c, off); off += c.length; }
    const ratio = rate / target;
    const n = Math.floor(input.length / ratio);
    const buf = new ArrayBuffer(44 + n * 2);
    const v = new DataView(buf);
    const w = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    w(0, "RIFF"); v.setUint32(4, 36 + n * 2, true); w(8, "WAVE"); w(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, target, true); v.setUint32(28, target * 2, true); v.setUint16(32, 2, true);
    v.setUint16(34, 16, true); w(36, "data"); v.setUint32(40, n * 2, true);
    for (let i = 0; i < n; i++) {
      const s = Math.max(-1, Math.min(1, input[Math.floor(i * ratio)]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buf], { type: "audio/wav" });
  }

  // Wiring ------------------------------------------------------------------------------
  function updateCount() {
    const box = $("reply-text");
    $("char-count").textContent = `${box.value.length} / ${box.maxLength}`;
  }

  $("reply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("reply-text").value;
    if (!text.trim()) { showError(new Error("Type a reply first.")); return; }
    sendReply(text);
  });
  $("reply-text").addEventListener("input", updateCount);
  $("reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("reply-form").requestSubmit();
  });
  $("finish-btn").addEventListener("click", finish);
  if ($("mic-btn") && root.dataset.voice === "true") $("mic-btn").addEventListener("click", toggleMic);

  loadScenarios();
  offerResume();
  loadProgress();
})();
