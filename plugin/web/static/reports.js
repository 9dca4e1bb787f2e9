// Calls list (upload + status polling), report page (wait for the report), outbox (retry).
(function () {
  const { api, el } = window.SalesCoach;
  const token = () => window.SalesCoach.token();

  async function poll(recordingId, box) {
    for (;;) {
      const st = await api("/api/v1/recordings/" + recordingId);
      box.replaceChildren(el("div", {}, `${st.stage} · ${st.progress} %`),
        el("div", { class: "bar" }, el("span", { style: `width: ${st.progress}%` })));
      if (st.status === "failed") { box.append(el("p", { class: "error" }, st.error || "failed")); return; }
      if (st.report_version) {
        box.append(el("p", {}, el("a", { href: `/panel/calls/${st.call_id}?t=${token()}` }, "Open the report")));
        if (st.stage === "done" || st.stage === "writeback_failed") return;
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
  }

  const form = document.getElementById("upload");
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = document.getElementById("upload-status");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const res = await api("/api/v1/recordings", { method: "POST", body: new FormData(form) });
      await poll(res.recording_id, box);
    } catch (err) {
      box.replaceChildren(el("p", { class: "error" }, err.message));
    } finally { button.disabled = false; }
  });

  const report = document.getElementById("report");
  if (report && !report.dataset.version && report.dataset.status !== "failed" && !document.getElementById("pipeline-error")) {
    const callId = report.dataset.call;
    const tick = async () => {
      try {
        const call = await api("/api/v1/calls/" + callId);
        if (call.report_version || (call.recording && call.recording.status === "failed") || call.status === "failed") {
          location.reload(); return;
        }
        if (call.recording) {
          document.getElementById("stage").textContent = `: ${call.recording.stage} ${call.recording.progress} %`;
          document.getElementById("progress").style.width = call.recording.progress + "%";
        }
      } catch (err) { /* transient: try again */ }
      setTimeout(tick, 2000);
    };
    if (token()) setTimeout(tick, 1500);
  }

  for (const b of document.querySelectorAll("button.retry")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api(`/api/v1/admin/outbox/${b.dataset.id}/retry`, { method: "POST" });
        b.closest("tr").querySelector(".status").textContent = "pending";
        b.remove();
      } catch (err) { b.disabled = false; alert(err.message); }
    });
  }
})();
