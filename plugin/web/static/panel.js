// Shared helpers of every panel page: the session token and JSON API calls.
(function () {
  const params = new URLSearchParams(location.search);
  if (params.get("t")) sessionStorage.setItem("salescoach.token", params.get("t"));
  const token = () => sessionStorage.getItem("salescoach.token") || "";

  /** fetch JSON from the API with the session; throws Error(message) on a 4xx/5xx answer. */
  async function api(path, options = {}) {
    const opts = { ...options, headers: { ...(options.headers || {}), Authorization: "Bearer " + token() } };
    if (opts.body && typeof opts.body !== "string" && !(opts.body instanceof FormData)) {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, opts);
    const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
    if (!resp.ok) {
      const err = new Error((data && data.error && data.error.message) || resp.statusText);
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

  window.SalesCoach = { api, el, token };
})();
