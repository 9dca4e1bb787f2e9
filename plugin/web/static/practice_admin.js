// Practice admin: author scenarios (form or YAML, with line-precise problems), preview and
// save them, assign them to reps with a due date, and follow the team's progress.
(function () {
  const $ = (id) => document.getElementById(id);
  const token = $("practice-admin").dataset.token || "";

  async function api(path, options = {}) {
    const opts = { ...options, headers: { Authorization: "Bearer " + token } };
    if (options.body !== undefined) {
      opts.body = JSON.stringify(options.body);
      opts.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, opts);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error((data.error && data.error.message) || resp.statusText);
      err.details = (data.error && data.error.details) || {};
      throw err;
    }
    return data;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function say(kind, message) {
    $("pa-error").hidden = kind !== "error";
    $("pa-notice").hidden = kind !== "notice";
    $(kind === "error" ? "pa-error" : "pa-notice").textContent = message || "";
  }

  function showProblems(problems) {
    $("pa-problems").replaceChildren(...(problems || []).map((p) => el("li", { "data-line": p.line ?? "" },
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); gotoLine(p.line); } },
        p.line ? `line ${p.line}` : "file"), `: ${p.field ? p.field + ": " : ""}${p.message}`)));
  }

  function gotoLine(line) {
    if (!line) return;
    const box = $("pa-yaml");
    const lines = box.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    box.focus();
    box.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }

  async function loadScenarios() {
    const [mine, all] = await Promise.all([api("/api/v1/practice/admin/scenarios"), api("/api/v1/practice/scenarios")]);
    $("pa-scenarios").querySelector("tbody").replaceChildren(...(mine.items.length ? mine.items.map((s) => el("tr", { "data-scenario": s.id },
      el("td", {}, s.id), el("td", {}, s.title), el("td", {}, (s.updated_at || "").slice(0, 16).replace("T", " ")),
      el("td", {},
        el("button", { class: "btn secondary", type: "button", onclick: () => { $("pa-yaml").value = s.yaml; showProblems([]); } }, "Edit"), " ",
        el("button", { class: "btn secondary", type: "button", onclick: () => remove(s.id) }, "Delete")))) :
      [el("tr", {}, el("td", { colspan: 4 }, "None yet: write one below."))]));
    $("pa-assign-scenario").replaceChildren(...all.scenarios.map((s) => el("option", { value: s.id }, `${s.title} (${s.id})`)));
  }

  async function remove(id) {
    try { await api(`/api/v1/practice/admin/scenarios/${encodeURIComponent(id)}`, { method: "DELETE" }); say("notice", `Deleted ${id}.`); await loadScenarios(); }
    catch (err) { say("error", err.message); }
  }

  async function submit(path) {
    showProblems([]);
    $("pa-preview-box").hidden = true;
    try {
      const data = await api(path, { method: "POST", body: { yaml: $("pa-yaml").value } });
      return data;
    } catch (err) {
      say("error", err.details && err.details.problems ? `The scenario has ${err.details.problems.length} problem(s).` : err.message);
      showProblems(err.details && err.details.problems);
      return null;
    }
  }

  async function preview() {
    const data = await submit("/api/v1/practice/admin/scenarios/preview");
    if (!data) return;
    say("notice", "Valid. This is what reps will see.");
    const s = data.scenario;
    $("pa-preview-box").replaceChildren(
      el("h3", {}, s.title), el("p", {}, `${s.persona.name}, ${s.persona.role} at ${s.persona.company}`),
      el("p", { class: "sub" }, s.summary),
      el("ol", {}, data.objections.map((o) => el("li", {}, el("strong", {}, o.line), el("br"), "Good answers: " + o.key_points.join("; ")))),
      el("p", {}, "Brief: " + s.brief.pricing.join(" · ") + " · " + s.brief.discount_policy));
    $("pa-preview-box").hidden = false;
  }

  async function save() {
    const data = await submit("/api/v1/practice/admin/scenarios");
    if (!data) return;
    say("notice", `${data.created ? "Created" : "Updated"} ${data.scenario.id}.`);
    await loadScenarios();
  }

  async function fromForm(e) {
    e.preventDefault();
    const form = Object.fromEntries(new FormData($("pa-form")).entries());
    try {
      const data = await api("/api/v1/practice/admin/scenarios/preview", { method: "POST", body: { form } });
      $("pa-yaml").value = data.yaml;
      say("notice", "YAML made from the form; preview or save it.");
      showProblems([]);
    } catch (err) {
      say("error", err.message);
      showProblems(err.details && err.details.problems);
    }
  }

  async function loadTeam() {
    const t = await api("/api/v1/practice/admin/team");
    $("pa-assign-users").replaceChildren(...t.users.map((u) => el("option", { value: u.id }, u.name)));
    const names = Object.fromEntries(t.users.map((u) => [u.id, u.name]));
    const reps = t.reps.length ? el("table", { id: "pa-team-reps" },
      el("thead", {}, el("tr", {}, ["Rep", "Sessions", "Average", "Last", "Tone", "Content", "Strategy", "Focus", "By week"].map((h) => el("th", {}, h)))),
      el("tbody", {}, t.reps.map((r) => el("tr", { "data-user": r.user_id },
        el("td", {}, r.name), el("td", {}, r.sessions), el("td", {}, r.average ?? "–"), el("td", {}, r.last ?? "–"),
        el("td", {}, r.skills.tone ?? "–"), el("td", {}, r.skills.content ?? "–"), el("td", {}, r.skills.strategy ?? "–"),
        el("td", {}, r.focus || "–"),
        el("td", {}, r.weeks.map((w) => `${w.week}: ${w.overall}`).join(" · "))))))
      : el("p", { class: "sub" }, "No finished sessions yet.");
    const assigned = el("table", { id: "pa-team-assignments" },
      el("thead", {}, el("tr", {}, ["Rep", "Scenario", "Due", "Status", "Best", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, t.assignments.map((a) => el("tr", { "data-assignment": a.id },
        el("td", {}, names[a.user_id] || a.user_id), el("td", {}, a.scenario_id), el("td", {}, a.due_date || "–"),
        el("td", { class: "status " + a.status }, a.status), el("td", {}, a.best ?? "–"),
        el("td", {}, el("button", { class: "btn secondary", type: "button", onclick: () => unassign(a.id) }, "Remove"))))));
    $("pa-team").replaceChildren(el("h3", {}, "Per rep and skill"), reps, el("h3", {}, "Assignments"), assigned);
  }

  async function unassign(id) {
    try { await api(`/api/v1/practice/admin/assignments/${id}`, { method: "DELETE" }); await loadTeam(); }
    catch (err) { say("error", err.message); }
  }

  async function assign(e) {
    e.preventDefault();
    const users = [...$("pa-assign-users").selectedOptions].map((o) => Number(o.value));
    try {
      const data = await api("/api/v1/practice/admin/assignments", { method: "POST", body: {
        scenario_id: $("pa-assign-scenario").value, user_ids: users,
        due_date: $("pa-assign-due").value || null, note: $("pa-assign-note").value } });
      say("notice", `Assigned to ${data.items.length} rep(s).`);
      await loadTeam();
    } catch (err) { say("error", err.message); }
  }

  $("pa-preview").addEventListener("click", preview);
  $("pa-save").addEventListener("click", save);
  $("pa-form").addEventListener("submit", fromForm);
  $("pa-assign").addEventListener("submit", assign);
  $("pa-file").addEventListener("change", async () => {
    const f = $("pa-file").files[0];
    if (f) { $("pa-yaml").value = await f.text(); await preview(); }
  });
  loadScenarios().catch((err) => say("error", err.message));
  loadTeam().catch((err) => say("error", err.message));
})();
