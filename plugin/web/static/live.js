// Live coach panel: captures audio, streams it over /ws/calls, shows transcript, nudges, gauges.
// Protocol: docs/live.md. Resume: call_id + last seq/nudge id survive reloads in sessionStorage
// when the browser allows it (inside a CRM frame it may not: then only in memory).
// Where the frame forbids the microphone, the pop-out window captures and this panel watches.
(function () {
  const { el, api, token, store } = window.SalesCoach;
  const script = document.currentScript;
  const WORKLET_URL = script.dataset.worklet;
  const IS_POPOUT = script.dataset.popout === "1";
  const KEY = "salescoach.live.call";
  const MAX_BUFFER_FRAMES = 600; // ~60 s per channel kept while the socket is down
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null, callId: null, lastSeq: 0, lastNudgeId: 0, channels: [], running: false,
    ended: false, retry: 0, buffers: [], ctx: null, streams: [], nodes: [],
    seenSeq: new Set(), seenNudge: new Set(), repLevelAt: 0, repRunStart: null,
    sentiment: [], speakQueue: [], starting: false, watchId: null, popup: null,
    record: { id: document.body.dataset.record || "", type: document.body.dataset.recordType || "" },
  };

  /** Whether this document may use a browser feature (permissions policy of the frame). */
  function frameAllows(feature) {
    const policy = document.permissionsPolicy || document.featurePolicy;
    try { return !policy || policy.allowsFeature(feature); } catch (e) { return true; }
  }
  const inFrame = (() => { try { return window.top !== window.self; } catch (e) { return true; } })();

  // ---------------------------------------------------------------- setup
  async function listDevices() {
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { return; }
    const inputs = devices.filter((d) => d.kind === "audioinput");
    const mic = $("rep-mic"), cust = $("customer-src");
    const chosenMic = mic.value, chosenCust = cust.value; // a refresh never resets a choice
    mic.replaceChildren(el("option", { value: "" }, "Default microphone"),
      ...inputs.filter((d) => d.deviceId && d.deviceId !== "default")
        .map((d, i) => el("option", { value: d.deviceId }, d.label || `Microphone ${i + 1}`)),
      el("option", { value: "off" }, "Off (listen to the customer only)"));
    for (const opt of [...cust.querySelectorAll("option[data-device]")]) opt.remove();
    inputs.filter((d) => d.deviceId && d.deviceId !== "default").forEach((d, i) => {
      cust.append(el("option", { value: "device:" + d.deviceId, "data-device": "1" },
        "Input device: " + (d.label || `input ${i + 1}`) + " (e.g. a loopback of the call)"));
    });
    if ([...mic.options].some((o) => o.value === chosenMic)) mic.value = chosenMic;
    if ([...cust.options].some((o) => o.value === chosenCust)) cust.value = chosenCust;
    modeHint();
  }

  function channelsFor(repMic, customer) {
    if (repMic === "off") return customer.startsWith("device:") || customer === "display" ? ["customer"] : [];
    if (customer === "mixed") return ["mixed"];
    if (customer === "none") return ["rep"];
    return ["rep", "customer"];
  }

  const needsMic = (ch) => ch.some((c) => c !== "customer") || $("customer-src").value.startsWith("device:");
  const busy = () => state.running || state.starting || !!state.watchId;

  function consentStated() {
    // What the rep confirmed, as the server's consent policy reads it (docs/privacy.md).
    const box = $("consent");
    if (!box.checked || box.dataset.policy === "none") return "";
    return box.dataset.policy === "two_party" ? "obtained" : "notified";
  }

  function modeHint() {
    // While a call runs the hint describes the call's channels, not the pickers.
    const ch = busy() && state.channels.length ? state.channels : channelsFor($("rep-mic").value, $("customer-src").value);
    const hints = {
      "rep,customer": "Two channels: your microphone is you, the call audio is the customer.",
      "mixed": "One mixed channel: speakers are told apart by turn taking (less precise). Prefer sharing the call tab.",
      "rep": "Only your side is coached (talk time, pace, questions); objections need the customer's audio.",
      "customer": "Listen-only: the chosen input is the customer; your side is not coached.",
      "": "Choose at least one audio source.",
    };
    $("mode-hint").textContent = hints[ch.join(",")] || "";
    // Under a two_party policy the rep's own channel needs no one else's consent.
    const repOnly = ch.length === 1 && ch[0] === "rep";
    $("start").disabled = (!$("consent").checked && !(repOnly && $("consent").dataset.policy === "two_party")) ||
      ch.length === 0 || busy();
    $("rep-mic").disabled = $("customer-src").disabled = busy();
    const blocked = [];
    if (needsMic(ch) && !frameAllows("microphone")) blocked.push("the microphone");
    if ($("customer-src").value === "display" && ch.includes("customer") && !frameAllows("display-capture")) blocked.push("sharing the call tab");
    const hint = $("frame-hint");
    hint.hidden = !blocked.length || IS_POPOUT;
    if (blocked.length) {
      hint.textContent = `This CRM frame does not allow ${blocked.join(" or ")}. Press “Pop-out coach”: ` +
        "it coaches the call in a window of its own and this panel follows it live.";
      $("popout-btn")?.classList.remove("secondary");
    }
    document.body.classList.toggle("in-call", busy() && !state.ended);
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
        let s;
        try {
          s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: { ...NO_PROCESSING } });
        } catch (e) { e.isDisplay = true; throw e; }
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
    if (role === "rep") trackRepLevel(pcm);
    else if (role === "mixed") trackMixedLevel(pcm);
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
  // One mixed channel hears both voices: its level says someone talks, and the server's
  // "speaking" events (its voice tracker) say who; the customer's voice is not the rep's.
  function trackMixedLevel(pcm) {
    if (state.speakingNow !== "customer") trackRepLevel(pcm);
  }
  const repTalking = () => performance.now() - state.repLevelAt < 900;

  // ---------------------------------------------------------------- socket
  function wsUrl() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws/calls`; // the token goes in the first message, not the URL
  }

  function connect() {
    state.ready = false;
    const ws = new WebSocket(wsUrl());
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = () => {
      state.retry = 0;
      ws.send(JSON.stringify({ type: "auth", token: token() })); // first, within a few seconds
      if (state.watchId) { ws.send(JSON.stringify({ type: "watch", call_id: state.watchId })); return; }
      const start = { type: "start", sample_rate: 16000, channels: state.channels,
        record_id: state.record.id, record_type: state.record.type, consent: consentStated() };
      if (state.callId) Object.assign(start, { call_id: state.callId, last_seq: state.lastSeq, last_nudge_id: state.lastNudgeId });
      ws.send(JSON.stringify(start));
    };
    ws.onmessage = (ev) => { try { onEvent(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
    ws.onclose = (ev) => {
      state.ready = false;
      if (state.ended || !(state.running || state.watchId)) return;
      if (ev.code === 1008 && /session|token/i.test(ev.reason || "") && !state.renewed) {
        // The session ran out mid-call: renew it (refresh, or the widget) and carry on.
        state.renewed = true;
        window.SalesCoach.refresh().catch(() => window.SalesCoach.askForToken().then((ok) => {
          if (!ok) throw new Error("no token");
        })).then(() => { state.renewed = false; connect(); }, () => fail(window.SalesCoach.sessionExpired()));
        return;
      }
      if (ev.code === 1008 || ev.code === 1003) { fail(ev.reason || "the server refused the connection"); return; }
      const delay = Math.min(5000, 500 * 2 ** state.retry++);
      setStatus(`Connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s (nothing is lost)…`);
      setTimeout(() => { if ((state.running || state.watchId) && !state.ended) connect(); }, delay);
    };
  }

  function remember() {
    if (state.watchId) return; // a watcher has nothing to resume
    store.set(KEY, JSON.stringify({ callId: state.callId, lastSeq: state.lastSeq,
      lastNudgeId: state.lastNudgeId, channels: state.channels }));
  }

  function tellOpener(msg) {
    if (!IS_POPOUT || !window.opener) return;
    try { window.opener.postMessage(msg, "*"); } catch (e) { /* the CRM page went away */ }
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "ready":
        state.callId = ev.call_id; state.ready = true; remember();
        if (ev.watching) {
          state.channels = ev.channels || [];
          setStatus(`Following call ${ev.call_id.slice(0, 8)} from the pop-out window.`);
          modeHint(); break;
        }
        tellOpener({ type: "salescoach:call", call_id: ev.call_id });
        setStatus(ev.resumed ? `Resumed call ${ev.call_id.slice(0, 8)}.` : `Coaching call ${ev.call_id.slice(0, 8)}.`);
        while (state.buffers.length && state.ws.readyState === WebSocket.OPEN) state.ws.send(state.buffers.shift());
        break;
      case "partial": showPartial(ev); break;
      case "speaking": state.speakingNow = ev.speaker; break;
      case "final": addTurn(ev); break;
      case "nudge": addNudge(ev); break;
      case "metrics": showMetrics(ev.metrics || {}); break;
      case "deep": showDeep(ev); break;
      case "error":
        if (ev.code === "unknown_call" || ev.code === "call_ended") {
          if (state.watchId) { stopWatching("The pop-out call has ended or could not be found."); break; }
          state.callId = null; state.lastSeq = 0; state.lastNudgeId = 0; store.remove(KEY);
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
    store.remove(KEY);
    const watched = !!state.watchId;
    state.watchId = null;
    stopCapture();
    tellOpener({ type: "salescoach:ended", call_id: ev.call_id });
    setStatus(`Call ended and saved (${ev.turns} turns). The report follows in Calls & reports.` +
      (watched ? " You can close the pop-out window." : ""));
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
    $("stop").disabled = true;
    modeHint();
  }

  function fail(message) {
    setStatus(message, true);
    stopCapture();
    if (state.ws) state.ws.close();
  }

  /** What to do when audio cannot be opened, in one sentence the rep can act on. */
  function audioAdvice(e, channels) {
    const name = e && e.name;
    const display = $("customer-src").value === "display" && channels.includes("customer");
    const popout = IS_POPOUT ? "" : " Or press “Pop-out coach” to coach from a window of its own.";
    if ((name === "NotAllowedError" || name === "SecurityError") && needsMic(channels) && !frameAllows("microphone")) {
      return "This CRM frame does not allow the microphone. Press “Pop-out coach”: it coaches the call in a window of its own and this panel follows it live.";
    }
    if (name === "NotAllowedError" && display && e.isDisplay) {
      return "Sharing the call was cancelled or refused: press Start again and pick the call's tab with “Share tab audio” ticked, or choose another customer source." + popout;
    }
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "The browser blocked the microphone for Sales Coach: allow it with the microphone icon in the address bar (or the site settings), then press Start again." + popout;
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No such microphone or input: plug it in, press “Show my audio devices” and choose another one.";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "The microphone is in use by another application or failed to start: close the other app (or pick another input) and press Start again.";
    }
    return "Could not open audio: " + ((e && (e.message || e.name)) || "unknown error") + "." + popout;
  }

  async function start() {
    if (busy()) return; // one capture per call: a second click must not start another
    state.starting = true;
    const saved = store.getJSON(KEY);
    state.channels = saved && saved.callId ? saved.channels : channelsFor($("rep-mic").value, $("customer-src").value);
    if (saved && saved.callId) Object.assign(state, { callId: saved.callId, lastSeq: saved.lastSeq, lastNudgeId: saved.lastNudgeId });
    state.ended = false;
    if (needsMic(state.channels) && !frameAllows("microphone")) { // asking would only fail
      state.starting = false;
      fail(audioAdvice({ name: "NotAllowedError" }, state.channels));
      return;
    }
    modeHint();
    setStatus("Opening audio…");
    try {
      state.streams = await openInputs(state.channels);
      await listDevices(); // labels are visible once permission is granted
      state.running = true;
      await startCapture(state.streams);
    } catch (e) {
      state.starting = false;
      fail(audioAdvice(e, state.channels));
      return;
    }
    state.starting = false;
    $("stop").disabled = false;
    modeHint();
    connect();
  }

  // ---------------------------------------------------------------- pop-out and watching
  function watch(callId) {
    if (state.watchId === callId || state.running) return;
    state.watchId = callId; state.ended = false; state.callId = callId;
    $("ended-card").hidden = true;
    modeHint();
    setStatus("Joining the pop-out window's call…");
    if (state.ws) { try { state.ws.close(); } catch (e) { /* already closed */ } }
    connect();
  }

  function stopWatching(message) {
    state.watchId = null;
    if (state.ws) { try { state.ws.close(); } catch (e) { /* already closed */ } }
    setStatus(message);
    modeHint();
  }

  async function popout() {
    // Open the window inside the click (popup blockers), then point it at the one-time link.
    const popup = window.open("", "salescoach-coach", "popup,width=460,height=860");
    setStatus("Opening the pop-out coach…");
    let url;
    try {
      const body = state.record.id && !document.body.dataset.record ? { record_id: state.record.id, record_type: state.record.type } : {};
      url = (await api("/api/v1/popout", { method: "POST", body })).url;
    } catch (e) {
      if (popup) popup.close();
      setStatus("Could not open the pop-out coach: " + e.message, true);
      return;
    }
    if (!popup) {
      $("status").replaceChildren("The browser blocked the new window: ",
        el("a", { href: url, target: "_blank", id: "popout-link" }, "open the pop-out coach"),
        " (this panel then follows the call).");
      return;
    }
    popup.location.href = url;
    state.popup = popup;
    state.popoutAt = Date.now();
    setStatus("Coaching runs in the pop-out window: start the call there; this panel follows it live.");
    waitForPopoutCall();
  }

  async function waitForPopoutCall() {
    // The pop-out tells us its call id (postMessage); if that message is lost (no opener),
    // the newest live call on this record started after the window opened is the one.
    while (state.popup && !state.watchId) {
      await new Promise((r) => setTimeout(r, 2000));
      if (state.popup && state.popup.closed && !state.watchId) {
        state.popup = null; setStatus("The pop-out window was closed."); return;
      }
      try {
        const { calls } = await api("/api/v1/live/calls?status=live");
        const mine = calls.find((c) => (c.record_id || "") === state.record.id &&
          Date.parse(c.started_at) >= state.popoutAt - 5000);
        if (mine && !state.watchId) watch(mine.id);
      } catch (e) { /* try again */ }
    }
  }

  window.addEventListener("message", (ev) => {
    const msg = ev.data;
    if (!msg || typeof msg !== "object" || !state.popup || ev.source !== state.popup) return;
    if (msg.type === "salescoach:call" && typeof msg.call_id === "string") watch(msg.call_id);
  });

  function stop() {
    if (state.watchId) { stopWatching("Stopped following the call; it goes on in the pop-out window."); return; }
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "stop" }));
    state.running = false;
    $("stop").disabled = true;
    setStatus("Ending the call…");
  }

  async function reloadStored() {
    // After a page reload mid-call: show what is stored, then offer to resume.
    const saved = store.getJSON(KEY);
    if (!saved || !saved.callId) return;
    try {
      const data = await api(`/api/v1/live/calls/${saved.callId}`);
      if (data.call.status !== "live") { store.remove(KEY); return; }
      data.turns.forEach((t) => addTurn({ ...t, replayed: true }));
      data.nudges.forEach((n) => addNudge({ ...n, seq: n.turn_seq, replayed: true }));
      setStatus(`Call ${saved.callId.slice(0, 8)} is still open: press Start to resume it.`);
      $("consent").checked = true; modeHint();
    } catch (e) { store.remove(KEY); }
  }

  $("devices").addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (!frameAllows("microphone")) { setStatus(audioAdvice({ name: "NotAllowedError" }, ["rep"]), true); return; }
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
  $("popout-btn")?.addEventListener("click", popout);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) navigator.mediaDevices.addEventListener("devicechange", listDevices);

  // ---------------------------------------------------------------- the customer
  const money = (n) => (typeof n === "number" ? "$" + Math.round(n).toLocaleString("en-US") : n || "");

  function renderCustomer(data) {
    const rec = data.record || {};
    $("customer-card").hidden = false;
    $("customer-name").textContent = rec.name || "Customer";
    const body = [];
    const who = [rec.title, rec.company].filter(Boolean).join(" · ");
    if (who) body.push(el("p", { class: "muted", id: "customer-who" }, who));
    if (!data.connected) {
      body.push(el("p", { class: "muted small", id: "customer-not-connected" },
        data.warning || "The CRM is not connected yet: the customer's history shows here once your admin connects it."));
    } else if (data.warning) body.push(el("p", { class: "muted small", id: "customer-warning" }, data.warning));
    const section = (id, title, items) => items.length && body.push(el("div", { class: "cust-sec", id },
      el("h4", {}, title), el("ul", {}, items)));
    section("customer-deals", "Open deals", (data.deals || []).map((d) =>
      el("li", {}, el("strong", {}, d.name || "Deal"), [d.stage, money(d.amount), d.close_date ? "closes " + d.close_date : ""].filter(Boolean).map((x) => " · " + x).join(""))));
    section("customer-highlights", "What they raised", (data.highlights || []).map((h) =>
      el("li", {}, h.topic ? el("strong", {}, h.topic + ": ") : "", h.text || "", h.date ? el("span", { class: "muted" }, " (" + h.date + ")") : "")));
    if ((data.decision_makers || []).length) {
      body.push(el("p", { id: "customer-deciders" }, el("strong", {}, "Who decides: "), data.decision_makers.join(", ")));
    }
    section("customer-dates", "Dates that matter", (data.key_dates || []).map((k) =>
      el("li", {}, el("strong", {}, k.date + " "), k.what || "")));
    const history = data.history || [];
    if (history.length) {
      body.push(el("details", { id: "customer-history" }, el("summary", {}, `History (${history.length})`),
        el("ul", {}, history.map((h) => el("li", {}, el("span", { class: "muted" }, `${h.date || ""} · ${h.kind || ""} `), h.summary || "")))));
    }
    if (data.connected && body.length <= 1) body.push(el("p", { class: "muted small" }, "No history with this customer in the CRM yet."));
    $("customer-body").replaceChildren(...body);
  }

  async function loadCustomer() {
    if (!state.record.id) { showPicker(); return; }
    const q = new URLSearchParams({ record_id: state.record.id, record_type: state.record.type || "" });
    try {
      renderCustomer(await api("/api/v1/customer?" + q));
    } catch (e) {
      if (e.status === 401) return; // the session banner says what to do
      $("customer-card").hidden = false;
      $("customer-body").replaceChildren(el("p", { class: "muted small", id: "customer-error" },
        "The customer's CRM summary is not available: " + e.message));
    }
  }

  let pickerTimer = null;
  function showPicker() {
    $("picker-card").hidden = false;
    $("picker-q").addEventListener("input", () => {
      clearTimeout(pickerTimer);
      pickerTimer = setTimeout(searchRecords, 250);
    });
    searchRecords();
  }

  async function searchRecords() {
    const q = $("picker-q").value.trim();
    if (q.length < 2) { // the CRM search needs two letters
      $("picker-results").replaceChildren();
      $("picker-note").textContent = "Type two letters or more of a name or company; you can also start a call without a record.";
      return;
    }
    try {
      const { records } = await api("/api/v1/crm/records?" + new URLSearchParams({ q, limit: "20" }));
      $("picker-results").replaceChildren(...records.map((r) => el("li", {},
        el("button", { class: "link pick", type: "button", "data-id": r.id, onclick: () => pick(r) },
          r.name || r.id, r.company ? el("span", { class: "muted" }, " · " + r.company) : "",
          el("span", { class: "muted small" }, " " + (r.type || ""))))));
      $("picker-note").textContent = records.length ? "" : (q ? "No CRM record matches." : "No CRM records to choose from; you can still start a call without one.");
    } catch (e) {
      if (e.status === 401) return;
      $("picker-results").replaceChildren();
      $("picker-note").textContent = "Record search is not available (" + e.message + "); you can still start a call without a record.";
    }
  }

  function pick(r) {
    if (busy()) return; // the call's record is fixed once it starts
    state.record = { id: r.id, type: r.type || "" };
    $("picker-card").hidden = true;
    loadCustomer().then(() => {
      $("customer-body").prepend(el("p", { class: "small" }, el("button", { class: "link", type: "button", id: "picker-change",
        onclick: () => { state.record = { id: "", type: "" }; $("customer-card").hidden = true; $("picker-card").hidden = false; } }, "Choose another customer")));
    });
  }

  $("customer-toggle").addEventListener("click", () => {
    const open = $("customer-body").hidden;
    $("customer-body").hidden = !open;
    $("customer-toggle").textContent = open ? "Hide" : "Show";
    $("customer-toggle").setAttribute("aria-expanded", String(open));
  });

  listDevices().then(reloadStored).finally(modeHint);
  loadCustomer();
  window.SalesCoachLive = { state, watch };
})();
