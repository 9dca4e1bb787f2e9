// Live coach panel: captures audio, streams it over /ws/calls, shows transcript, nudges, gauges.
// Protocol: docs/live.md. Resume: call_id + last seq/nudge id survive reloads in sessionStorage.
(function () {
  const { el, api, token } = window.SalesCoach;
  const script = document.currentScript;
  const WORKLET_URL = script.dataset.worklet;
  const KEY = "salescoach.live.call";
  const MAX_BUFFER_FRAMES = 600; // ~60 s per channel kept while the socket is down
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null, callId: null, lastSeq: 0, lastNudgeId: 0, channels: [], running: false,
    ended: false, retry: 0, buffers: [], ctx: null, streams: [], nodes: [],
    seenSeq: new Set(), seenNudge: new Set(), repLevelAt: 0, repRunStart: null,
    sentiment: [], speakQueue: [],
  };

  // ---------------------------------------------------------------- setup
  async function listDevices() {
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { return; }
    const inputs = devices.filter((d) => d.kind === "audioinput");
    const mic = $("rep-mic"), cust = $("customer-src");
    mic.replaceChildren(el("option", { value: "" }, "Default microphone"),
      ...inputs.filter((d) => d.deviceId && d.deviceId !== "default")
        .map((d, i) => el("option", { value: d.deviceId }, d.label || `Microphone ${i + 1}`)),
      el("option", { value: "off" }, "Off (listen to the customer only)"));
    for (const opt of [...cust.querySelectorAll("option[data-device]")]) opt.remove();
    inputs.filter((d) => d.deviceId && d.deviceId !== "default").forEach((d, i) => {
      cust.append(el("option", { value: "device:" + d.deviceId, "data-device": "1" },
        "Input device: " + (d.label || `input ${i + 1}`) + " (e.g. a loopback of the call)"));
    });
    modeHint();
  }

  function channelsFor(repMic, customer) {
    if (repMic === "off") return customer.startsWith("device:") || customer === "display" ? ["customer"] : [];
    if (customer === "mixed") return ["mixed"];
    if (customer === "none") return ["rep"];
    return ["rep", "customer"];
  }

  function modeHint() {
    const ch = channelsFor($("rep-mic").value, $("customer-src").value);
    const hints = {
      "rep,customer": "Two channels: your microphone is you, the call audio is the customer.",
      "mixed": "One mixed channel: speakers are told apart by turn taking (less precise). Prefer sharing the call tab.",
      "rep": "Only your side is coached (talk time, pace, questions); objections need the customer's audio.",
      "customer": "Listen-only: the chosen input is the customer; your side is not coached.",
      "": "Choose at least one audio source.",
    };
    $("mode-hint").textContent = hints[ch.join(",")] || "";
    $("start").disabled = !$("consent").checked || ch.length === 0 || state.running;
  }

  // ---------------------------------------------------------------- capture
  const NO_PROCESSING = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

  async function openInputs(channels) {
    const repMic = $("rep-mic").value, customer = $("customer-src").value;
    const out = [];
    for (const role of channels) {
      if (role === "rep" || role === "mixed") {
        const audio = { ...NO_PROCESSING, channelCount: 1 };
        if (repMic) audio.deviceId = { exact: repMic };
        out.push(await navigator.mediaDevices.getUserMedia({ audio }));
      } else if (customer === "display") {
        const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: { ...NO_PROCESSING } });
        if (!s.getAudioTracks().length) throw new Error("the shared tab or screen has no audio: tick 'share audio'");
        s.getVideoTracks().forEach((t) => t.stop());
        out.push(new MediaStream(s.getAudioTracks()));
      } else {
        const deviceId = customer.slice("device:".length);
        out.push(await navigator.mediaDevices.getUserMedia({ audio: { ...NO_PROCESSING, channelCount: 1, deviceId: { exact: deviceId } } }));
      }
    }
    return out;
  }

  async function startCapture(streams) {
    const ctx = new AudioContext();
    state.ctx = ctx;
    const sink = ctx.createGain(); sink.gain.value = 0; sink.connect(ctx.destination);
    let worklet = false;
    if (ctx.audioWorklet) {
      try { await ctx.audioWorklet.addModule(WORKLET_URL); worklet = true; } catch (e) { worklet = false; }
    }
    streams.forEach((stream, index) => {
      const src = ctx.createMediaStreamSource(stream);
      if (worklet) {
        const node = new AudioWorkletNode(ctx, "pcm-downsampler");
        node.port.onmessage = (ev) => onPcm(index, new Int16Array(ev.data));
        src.connect(node); node.connect(sink); state.nodes.push(node, src);
      } else { // ScriptProcessor fallback (older browsers)
        const node = ctx.createScriptProcessor(4096, 1, 1);
        const ratio = ctx.sampleRate / 16000;
        node.onaudioprocess = (ev) => {
          const x = ev.inputBuffer.getChannelData(0);
          const n = Math.floor(x.length / ratio), out = new Int16Array(n);
          for (let i = 0; i < n; i++) { const s = Math.max(-1, Math.min(1, x[Math.floor(i * ratio)])); out[i] = s < 0 ? s * 0x8000 : s * 0x7fff; }
          onPcm(index, out);
        };
        src.connect(node); node.connect(sink); state.nodes.push(node, src);
      }
    });
  }

  function onPcm(index, pcm) {
    if (!state.running) return;
    const role = state.channels[index];
    if (role === "rep" || role === "mixed") trackRepLevel(pcm);
    const frame = new Uint8Array(1 + pcm.byteLength);
    frame[0] = index;
    frame.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), 1);
    if (state.ws && state.ws.readyState === WebSocket.OPEN && state.ready) state.ws.send(frame);
    else {
      state.buffers.push(frame);
      if (state.buffers.length > MAX_BUFFER_FRAMES * state.channels.length) state.buffers.shift();
    }
  }

  function trackRepLevel(pcm) {
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
    const rms = Math.sqrt(sum / Math.max(1, pcm.length)) / 32768;
    if (rms > 0.01) state.repLevelAt = performance.now();
  }
  const repTalking = () => performance.now() - state.repLevelAt < 900;

  // ---------------------------------------------------------------- socket
  function wsUrl() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws/calls?t=${encodeURIComponent(token())}`;
  }

  function connect() {
    state.ready = false;
    const ws = new WebSocket(wsUrl());
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      state.retry = 0;
      const start = { type: "start", sample_rate: 16000, channels: state.channels,
        record_id: document.body.dataset.record || "", record_type: document.body.dataset.recordType || "" };
      if (state.callId) Object.assign(start, { call_id: state.callId, last_seq: state.lastSeq, last_nudge_id: state.lastNudgeId });
      ws.send(JSON.stringify(start));
    };
    ws.onmessage = (ev) => { try { onEvent(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
    ws.onclose = (ev) => {
      state.ready = false;
      if (state.ended || !state.running) return;
      if (ev.code === 1008 || ev.code === 1003) { fail(ev.reason || "the server refused the connection"); return; }
      const delay = Math.min(5000, 500 * 2 ** state.retry++);
      setStatus(`Connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s (nothing is lost)…`);
      setTimeout(() => { if (state.running && !state.ended) connect(); }, delay);
    };
  }

  function remember() {
    sessionStorage.setItem(KEY, JSON.stringify({ callId: state.callId, lastSeq: state.lastSeq,
      lastNudgeId: state.lastNudgeId, channels: state.channels }));
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "ready":
        state.callId = ev.call_id; state.ready = true; remember();
        setStatus(ev.resumed ? `Resumed call ${ev.call_id.slice(0, 8)}.` : `Coaching call ${ev.call_id.slice(0, 8)}.`);
        while (state.buffers.length && state.ws.readyState === WebSocket.OPEN) state.ws.send(state.buffers.shift());
        break;
      case "partial": showPartial(ev); break;
      case "final": addTurn(ev); break;
      case "nudge": addNudge(ev); break;
      case "metrics": showMetrics(ev.metrics || {}); break;
      case "deep": showDeep(ev); break;
      case "error":
        if (ev.code === "unknown_call" || ev.code === "call_ended") {
          state.callId = null; state.lastSeq = 0; state.lastNudgeId = 0; sessionStorage.removeItem(KEY);
          setStatus("The previous call could not be resumed; starting a new one.");
          state.ws.close(); break;
        }
        setStatus(`Error: ${ev.message}`, true);
        if (ev.fatal) fail(ev.message);
        break;
      case "ended": showEnded(ev); break;
      default: break;
    }
  }

  // ---------------------------------------------------------------- rendering
  const clock = (ms) => { const s = Math.max(0, Math.floor((ms || 0) / 1000)); return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`; };
  const label = (who) => ({ rep: "You", customer: "Customer", mixed: "…" }[who] || who);

  function showPartial(ev) {
    const id = "partial-" + ev.channel;
    let node = $(id);
    if (!node) { node = el("div", { id, class: "partial" }); $("partials").append(node); }
    node.textContent = `${label(ev.speaker)}: ${ev.text}`;
    if (ev.speaker === "rep" && state.repRunStart === null) state.repRunStart = performance.now();
  }

  function addTurn(ev) {
    if (state.seenSeq.has(ev.seq)) return;
    state.seenSeq.add(ev.seq);
    state.lastSeq = Math.max(state.lastSeq, ev.seq); remember();
    for (const p of [...$("partials").children]) p.remove();
    const line = el("div", { class: "line " + ev.speaker, "data-seq": ev.seq },
      el("span", { class: "t" }, clock(ev.start_ms)), el("span", { class: "who" }, label(ev.speaker)), ev.text);
    const box = $("transcript");
    const after = [...box.children].find((n) => Number(n.dataset.seq) > ev.seq);
    box.insertBefore(line, after || null);
    box.scrollTop = box.scrollHeight;
    state.repRunStart = ev.speaker === "rep" ? state.repRunStart : null;
  }

  function addNudge(ev) {
    if (state.seenNudge.has(ev.id)) return;
    state.seenNudge.add(ev.id);
    state.lastNudgeId = Math.max(state.lastNudgeId, ev.id); remember();
    $("no-nudges")?.remove();
    const up = el("button", { title: "Helpful", "aria-label": "helpful" }, "👍");
    const down = el("button", { title: "Not helpful", "aria-label": "not helpful" }, "👎");
    const rate = async (value, btn) => {
      try {
        await api(`/api/v1/nudges/${ev.id}/rating`, { method: "POST", body: { rating: value } });
        up.classList.toggle("chosen", value === 1); down.classList.toggle("chosen", value === -1);
      } catch (e) { setStatus("Could not save the rating: " + e.message, true); }
    };
    up.addEventListener("click", () => rate(1, up));
    down.addEventListener("click", () => rate(-1, down));
    if (ev.rating === 1) up.classList.add("chosen");
    if (ev.rating === -1) down.classList.add("chosen");
    const card = el("div", { class: `nudge sev-${ev.severity}`, "data-id": ev.id },
      el("div", {}, ev.text),
      el("div", { class: "meta" }, el("span", {}, `${ev.category} · ${ev.severity}${ev.source === "deep" ? " · deep" : ""} · ${clock(ev.at_ms)}`),
        el("span", { class: "rate" }, up, down)));
    $("nudges").prepend(card);
    setTimeout(() => card.classList.add("faded"), ev.replayed ? 0 : 20000);
    if (!ev.replayed && ev.severity !== "info") speak(ev.text);
  }

  function speak(text) {
    if (!$("spoken").checked || !("speechSynthesis" in window)) return;
    state.speakQueue.push({ text: text.split(/[.:;,]/)[0].slice(0, 80), at: performance.now() });
  }
  setInterval(() => { // spoken cues wait for the rep to pause; stale ones are dropped
    state.speakQueue = state.speakQueue.filter((c) => performance.now() - c.at < 10000);
    if (!state.speakQueue.length || repTalking() || speechSynthesis.speaking) return;
    const cue = state.speakQueue.shift();
    const u = new SpeechSynthesisUtterance(cue.text); u.rate = 1.15; u.volume = 0.8;
    speechSynthesis.speak(u);
  }, 300);

  setInterval(() => { // monologue clock between turns
    const talking = repTalking() && state.running;
    if (talking && state.repRunStart === null) state.repRunStart = performance.now();
    if (!talking && performance.now() - state.repLevelAt > 2000) state.repRunStart = null;
    const s = state.repRunStart === null ? 0 : Math.floor((performance.now() - state.repRunStart) / 1000);
    $("g-mono").textContent = `${s} s`;
    $("g-mono").style.color = s >= 75 ? "var(--crit)" : s >= 45 ? "var(--warn)" : "";
  }, 500);

  function showMetrics(m) {
    if (typeof m.talk_ratio === "number") {
      const pct = Math.round(m.talk_ratio * 100);
      $("g-talk").textContent = pct + " %";
      $("g-talk-bar").style.width = pct + "%";
      $("g-talk-bar").style.background = pct > 65 ? "var(--crit)" : "var(--accent)";
    }
    if (m.pace_wpm) $("g-pace").textContent = Math.round(m.pace_wpm) + " wpm";
    if (m.questions) $("g-questions").textContent = `${m.questions.total} (${m.questions.open} open)`;
    const cs = m.sentiment && m.sentiment.customer;
    if (typeof cs === "number") {
      state.sentiment.push(cs); if (state.sentiment.length > 30) state.sentiment.shift();
      $("g-sent").textContent = (cs >= 0 ? "+" : "") + cs.toFixed(2) + (m.customer_sentiment_falling ? " ↘" : "");
      const n = state.sentiment.length;
      $("g-sent-trend").querySelector("polyline").setAttribute("points",
        state.sentiment.map((v, i) => `${n === 1 ? 50 : (i * 100) / (n - 1)},${12 - v * 11}`).join(" "));
    }
    if (m.checklist) {
      $("g-checklist").replaceChildren(...Object.entries(m.checklist).map(([k, done]) =>
        el("li", { class: done ? "done" : "todo" }, k.replace(/_/g, " "))));
    }
  }

  function showDeep(ev) {
    $("deep-card").hidden = false;
    $("deep-summary").textContent = ev.summary || "";
    const missing = ev.checklist && ev.checklist.missing && ev.checklist.missing.length
      ? " Still to cover: " + ev.checklist.missing.join(", ") + "." : "";
    $("deep-suggestion").textContent = (ev.suggestion ? "Next: " + ev.suggestion + "." : "") + missing;
  }

  function showEnded(ev) {
    state.ended = true;
    $("ended-card").hidden = false;
    $("ended-summary").textContent = ev.summary || "Call stored.";
    sessionStorage.removeItem(KEY);
    stopCapture();
    setStatus(`Call ended and saved (${ev.turns} turns). The report follows in Calls & reports.`);
  }

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "muted";
  }

  // ---------------------------------------------------------------- start / stop
  function stopCapture() {
    state.running = false;
    state.streams.forEach((s) => s.getTracks().forEach((t) => t.stop()));
    state.streams = []; state.nodes = [];
    if (state.ctx) { state.ctx.close(); state.ctx = null; }
    $("start").disabled = !$("consent").checked; $("stop").disabled = true;
  }

  function fail(message) {
    setStatus(message, true);
    stopCapture();
    if (state.ws) state.ws.close();
  }

  async function start() {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    state.channels = saved && saved.callId ? saved.channels : channelsFor($("rep-mic").value, $("customer-src").value);
    if (saved && saved.callId) Object.assign(state, { callId: saved.callId, lastSeq: saved.lastSeq, lastNudgeId: saved.lastNudgeId });
    state.ended = false;
    $("start").disabled = true;
    setStatus("Opening audio…");
    try {
      state.streams = await openInputs(state.channels);
      await listDevices(); // labels are visible once permission is granted
      state.running = true;
      await startCapture(state.streams);
    } catch (e) {
      fail("Could not open audio: " + (e.message || e.name));
      return;
    }
    $("stop").disabled = false;
    connect();
  }

  function stop() {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "stop" }));
    state.running = false;
    $("stop").disabled = true;
    setStatus("Ending the call…");
  }

  async function reloadStored() {
    // After a page reload mid-call: show what is stored, then offer to resume.
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (!saved || !saved.callId) return;
    try {
      const data = await api(`/api/v1/live/calls/${saved.callId}`);
      if (data.call.status !== "live") { sessionStorage.removeItem(KEY); return; }
      data.turns.forEach((t) => addTurn({ ...t, replayed: true }));
      data.nudges.forEach((n) => addNudge({ ...n, seq: n.turn_seq, replayed: true }));
      setStatus(`Call ${saved.callId.slice(0, 8)} is still open: press Start to resume it.`);
      $("consent").checked = true; modeHint();
    } catch (e) { sessionStorage.removeItem(KEY); }
  }

  $("devices").addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: true });
      s.getTracks().forEach((t) => t.stop());
      await listDevices();
      setStatus("Devices listed.");
    } catch (e) { setStatus("Microphone permission refused: " + (e.message || e.name), true); }
  });
  $("consent").addEventListener("change", modeHint);
  $("rep-mic").addEventListener("change", modeHint);
  $("customer-src").addEventListener("change", modeHint);
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", stop);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) navigator.mediaDevices.addEventListener("devicechange", listDevices);
  listDevices().then(reloadStored);
  window.SalesCoachLive = { state };
})();
