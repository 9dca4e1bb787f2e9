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
    renderBrief(session.scenario.brief);
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
    if (session.status === "active") say(session.buyer.text);
  }

  function renderBrief(brief) {
    const box = $("brief-body");
    if (!brief) { box.replaceChildren(); return; }
    box.replaceChildren(
      el("strong", {}, brief.product),
      el("ul", {}, brief.value_points.map((v) => el("li", {}, v))),
      el("div", { class: "muted" }, "Prices"),
      el("ul", {}, brief.pricing.map((v) => el("li", {}, v))),
      el("div", {}, el("span", { class: "muted" }, "Discount policy: "), brief.discount_policy),
      ...(brief.competitors && brief.competitors.length
        ? [el("div", {}, el("span", { class: "muted" }, "Competitors (never run them down): "), brief.competitors.join(", "))] : []));
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
      ...flawList(r.flaws),
      ...(r.improved.trim() === r.text.trim()
        ? [el("div", { class: "muted" }, "Nothing to add: this answer already covers it.")]
        : [el("div", { class: "muted" }, "A stronger answer:"), el("div", { class: "improved" }, r.improved)]));
    $("feedback").prepend(card);
  }

  /** POST a typed reply and read the server-sent events: the feedback at once, then the
   *  buyer's line piece by piece (Gemini streams it when keyed), then the session. */
  async function streamReply(sid, text) {
    const resp = await fetch(`/api/v1/practice/sessions/${sid}/replies/stream`, {
      method: "POST", headers: { Authorization: "Bearer " + window.SalesCoach.token(), "Content-Type": "application/json" },
      body: JSON.stringify({ text }) });
    if (!resp.ok) {
      const data = await resp.json().catch(() => ({}));
      const err = new Error((data.error && data.error.message) || resp.statusText);
      err.status = resp.status; err.code = data.error && data.error.code;
      throw err;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "", reply = null, line = "", node = null, done = null;
    for (;;) {
      const { value, done: end } = await reader.read();
      if (value) buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, cut); buf = buf.slice(cut + 2);
        const kind = (raw.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((raw.match(/^data: (.*)$/m) || [])[1] || "null");
        if (kind === "feedback") { reply = data; addMsg("rep", data.text); renderFeedback(data); }
        else if (kind === "buyer") {
          line += data.text;
          if (!node) { addMsg("buyer", ""); node = $("chat").lastElementChild; node.dataset.engine = data.engine; }
          node.lastChild.textContent = line;
        } else if (kind === "done") done = data;
      }
      if (end) break;
    }
    if (!reply || !done) throw new Error("the reply stream ended early; reload the session");
    return { streamed: true, reply, session: done.session, buyer: { ...done.session.buyer, text: line || done.session.buyer.text } };
  }

  function flawList(flaws) {
    if (!flaws || !flaws.length) return [];
    return [el("ul", { class: "flaws" }, flaws.map((f) => el("li", { "data-flaw": f.kind },
      el("strong", {}, f.label), f.evidence ? `: “${f.evidence}”` : "")))];
  }

  // The buyer speaks (browser speech synthesis) ------------------------------------------
  const voice = { on: true, call: false };
  function say(text, done) {
    const synth = window.speechSynthesis;
    if (!voice.on || !synth || !text) { if (done) done(); return; }
    try {
      synth.cancel();
      const u = new SpeechSynthesisUtterance(text);
      u.rate = 1.05;
      u.onend = () => { if (done) done(); };
      u.onerror = () => { if (done) done(); };
      synth.speak(u);
    } catch (e) { if (done) done(); }
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
        result = await streamReply(sid, text);
      }
      if (!result.streamed) { addMsg("rep", result.reply.text); renderFeedback(result.reply); }
      $("reply-text").value = "";
      updateCount();
      state.session = result.session;
      if (result.buyer.ended) {
        if (!result.streamed) addMsg("buyer", result.buyer.text);
        say(result.buyer.text);
        endOfCall(result.session);
      } else {
        if (!result.streamed) addMsg("buyer", result.buyer.text);
        say(result.buyer.text, () => { if (voice.call && state.session.status === "active") listen(); });
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

  // One recorder for the session's "Answer by voice" and the drill's: press to record,
  // press again to stop and hand the WAV to ``onBlob``.
  async function toggleRecording(btn, idleLabel, onBlob) {
    if (rec.ctx) {
      btn.classList.remove("recording");
      btn.textContent = idleLabel;
      const blob = encodeWav(rec.chunks, rec.rate);
      rec.node.disconnect(); rec.stream.getTracks().forEach((t) => t.stop()); await rec.ctx.close();
      rec.ctx = null;
      await onBlob(blob);
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
  const toggleMic = () => toggleRecording($("mic-btn"), "Answer by voice", (blob) => sendReply("", blob));

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

  // Call mode: the buyer speaks, then the microphone opens; a pause ends the rep's turn ----
  const SILENCE_MS = 900, MIN_SPEECH_MS = 300, MAX_TURN_MS = 60000;
  async function listen() {
    if (rec.ctx || state.busy) return;
    try { rec.stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (err) { showError(new Error("Microphone not available: " + err.message)); voice.call = false; markCall(); return; }
    rec.ctx = new AudioContext();
    rec.rate = rec.ctx.sampleRate;
    rec.chunks = [];
    const src = rec.ctx.createMediaStreamSource(rec.stream);
    rec.node = rec.ctx.createScriptProcessor(2048, 1, 1);
    let voiced = 0, quiet = 0, total = 0;
    rec.node.onaudioprocess = (e) => {
      const data = e.inputBuffer.getChannelData(0);
      rec.chunks.push(new Float32Array(data));
      let sum = 0;
      for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
      const ms = (data.length / rec.rate) * 1000;
      total += ms;
      if (Math.sqrt(sum / data.length) > 0.015) { voiced += ms; quiet = 0; } else { quiet += ms; }
      if ((voiced >= MIN_SPEECH_MS && quiet >= SILENCE_MS) || total >= MAX_TURN_MS) endTurn();
    };
    src.connect(rec.node); rec.node.connect(rec.ctx.destination);
    $("call-btn").textContent = "Listening…";
  }

  async function endTurn() {
    if (!rec.ctx) return;
    const blob = encodeWav(rec.chunks, rec.rate);
    rec.node.onaudioprocess = null;
    rec.node.disconnect(); rec.stream.getTracks().forEach((t) => t.stop());
    const ctx = rec.ctx; rec.ctx = null; await ctx.close();
    if ($("call-btn")) $("call-btn").textContent = "Call mode: on";
    await sendReply("", blob);
  }

  function markCall() {
    const btn = $("call-btn");
    if (!btn) return;
    btn.classList.toggle("on", voice.call);
    btn.textContent = voice.call ? "Call mode: on" : "Call mode";
  }

  function toggleCall() {
    voice.call = !voice.call;
    voice.on = voice.on || voice.call;
    markCall();
    if (voice.call) listen(); else if (rec.ctx) endTurn();
  }

  // Rehearse this customer, assignments ---------------------------------------------------
  const record = { id: document.body.dataset.record || "", type: document.body.dataset.recordType || "" };

  async function rehearse() {
    showError(null);
    try {
      openSession(await api("/api/v1/practice/sessions", { method: "POST", body: { record_id: record.id, record_type: record.type } }));
    } catch (err) { showError(err); }
  }

  async function loadAssignments() {
    try {
      const data = await api("/api/v1/practice/assignments");
      const open = data.items.filter((a) => a.status !== "done");
      $("assignments").hidden = !data.items.length;
      $("assignment-list").replaceChildren(...data.items.map((a) => el("li", { "data-assignment": a.id, class: "status-" + a.status },
        `${a.scenario_id} · ${a.status}${a.due_date ? " · due " + a.due_date : ""}${a.note ? " · " + a.note : ""} `,
        a.status === "done" ? `(best ${a.best})` : el("button", { type: "button", class: "secondary", onclick: () => start(a.scenario_id) }, "Start"))));
      return open;
    } catch (err) { showError(err); return []; }
  }

  // Drill -----------------------------------------------------------------------------------
  const drill = { last: null, line: "" };

  async function loadDrillLines() {
    if (!record.id) return;
    try {
      const data = await api(`/api/v1/practice/drill-lines?record_id=${encodeURIComponent(record.id)}&record_type=${encodeURIComponent(record.type)}`);
      if (!data.items.length) return;
      const pick = $("drill-pick");
      pick.append(...data.items.map((l) => el("option", { value: l.text }, `${l.source === "call" ? "Call" : "CRM"}${l.date ? " " + l.date.slice(0, 10) : ""}: ${l.text.slice(0, 90)}`)));
      pick.hidden = false;
      pick.addEventListener("change", () => { if (pick.value) $("drill-line").value = pick.value; });
    } catch (err) { /* the drill works without the record's lines */ }
  }

  async function sendDrill(audioBlob) {
    showError(null);
    const line = $("drill-line").value, text = $("drill-text").value;
    const voiced = audioBlob instanceof Blob;
    if (!line.trim() || (!voiced && !text.trim())) { showError(new Error("Type the customer's line and your answer.")); return; }
    const body = { customer_line: line, text };
    if (drill.last && drill.line === line.trim()) body.previous_id = drill.last.id;
    $("drill-btn").disabled = true;
    $("drill-status").textContent = voiced ? "Transcribing and scoring…" : "Scoring…";
    try {
      let r;
      if (voiced) {
        const form = new FormData();
        form.append("audio", audioBlob, "answer.wav");
        form.append("customer_line", line);
        if (body.previous_id) form.append("previous_id", String(body.previous_id));
        r = await api("/api/v1/practice/drills/audio", { method: "POST", body: form });
        $("drill-text").value = r.transcript;
      } else {
        r = await api("/api/v1/practice/drills", { method: "POST", body });
      }
      drill.last = r; drill.line = line.trim();
      renderDrill(r);
      $("drill-btn").textContent = "Try again";
    } catch (err) { showError(err); }
    finally { $("drill-btn").disabled = false; $("drill-status").textContent = ""; }
  }
  const toggleDrillMic = () => {
    if (!rec.ctx && !$("drill-line").value.trim()) { showError(new Error("Type the customer's line first.")); return; }
    return toggleRecording($("drill-mic"), "Answer by voice", (blob) => sendDrill(blob));
  };

  function renderDrill(r) {
    const parts = [
      el("div", { class: "head" }, el("strong", {}, `Drill · ${r.overall}/100`), el("span", { class: "quality " + r.quality }, r.quality)),
      dimension("Tone", r.tone), dimension("Content", r.content), dimension("Strategy", r.strategy), ...flawList(r.flaws)];
    if (r.change) {
      const d = r.change.delta;
      const fmt = (k) => el("span", { class: d[k] > 0 ? "up" : d[k] < 0 ? "down" : "" }, `${k} ${d[k] >= 0 ? "+" : ""}${d[k]}`);
      parts.push(el("div", { class: "change", id: "drill-change" }, `Since your last try (${r.change.previous_overall}): `,
        fmt("overall"), " · ", fmt("tone"), " · ", fmt("content"), " · ", fmt("strategy"),
        r.change.fixed_flaws.length ? ` · fixed: ${r.change.fixed_flaws.join(", ")}` : ""));
    }
    parts.push(el("div", { class: "muted" }, "A stronger answer:"), el("div", { class: "improved" }, r.improved));
    if (r.brief) parts.push(el("div", { class: "muted" }, `Checked against: ${r.brief.product} (${r.scenario_id}) · ${r.brief.discount_policy}`));
    $("drill-result").replaceChildren(el("div", { class: "card scorecard-reply", "data-drill": r.id }, ...parts));
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

  $("drill-btn").addEventListener("click", () => sendDrill());
  if ($("drill-mic") && root.dataset.voice === "true") { $("drill-mic").hidden = false; $("drill-mic").addEventListener("click", toggleDrillMic); }
  $("drill-line").addEventListener("input", () => { $("drill-btn").textContent = "Get feedback"; });
  $("speak-toggle").addEventListener("change", (e) => { voice.on = e.target.checked; if (!voice.on && window.speechSynthesis) window.speechSynthesis.cancel(); });
  voice.on = $("speak-toggle").checked && "speechSynthesis" in window;
  if ($("call-btn")) $("call-btn").addEventListener("click", toggleCall);
  if (record.id) { $("customer-offer").hidden = false; $("rehearse-btn").addEventListener("click", rehearse); }

  loadScenarios();
  offerResume();
  loadProgress();
  loadAssignments();
  loadDrillLines();
})();
