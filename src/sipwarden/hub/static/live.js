// The live event list: asks /api/events for what was recorded since the last event shown, once a
// second, and puts the newest on top. Event text comes from attackers, so it only ever goes into
// textContent (never innerHTML); the page's Content-Security-Policy forbids any other script.
"use strict";

(function () {
  const POLL_MS = 1000; // how often to ask for new events
  const MAX_ROWS = 500; // rows kept on the page; older ones are removed
  const PAGE = 500; // events per request once the first screen is shown
  const FIRST = 100; // events shown on load
  const FILTERS = ["kind", "ip", "since"]; // page query parameters passed on to the API

  const body = document.getElementById("events");
  const status = document.getElementById("status");
  const empty = document.getElementById("empty");
  const pageParams = new URLSearchParams(window.location.search);
  let cursor = null;
  let shown = 0;

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    return td;
  }

  function address(ip, port) {
    if (!ip) return "";
    if (port === null || port === undefined) return ip;
    return ip.includes(":") ? "[" + ip + "]:" + port : ip + ":" + port;
  }

  function row(ev) {
    const tr = document.createElement("tr");
    tr.dataset.id = ev.id;
    const ts = String(ev.ts || "").replace("T", " ").slice(0, 19);
    const source = ev.sensor ? ev.source + "@" + ev.sensor : ev.source;
    const target = ev.target_country ? (ev.target || "") + " (" + ev.target_country + ")" : ev.target;
    tr.append(
      cell(ts, "ts"),
      cell(ev.kind, /^[a-z_]+$/.test(ev.kind) ? "kind kind-" + ev.kind : "kind"),
      cell(source),
      cell(address(ev.src_ip, ev.src_port), "addr"),
      cell(ev.username),
      cell(target),
      cell(ev.tool || ev.user_agent, "ua"),
      cell(ev.count, "n"),
    );
    return tr;
  }

  function url(limit) {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = pageParams.get(name);
      if (value) params.set(name, value);
    }
    if (cursor) params.set("after", cursor);
    params.set("limit", String(limit));
    return "api/events?" + params.toString();
  }

  async function poll() {
    let again = POLL_MS;
    const limit = cursor ? PAGE : FIRST;
    try {
      const response = await fetch(url(limit), { cache: "no-store" });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new Error(problem.detail ? String(problem.detail) : "HTTP " + response.status);
      }
      const data = await response.json();
      for (const ev of data.events) {
        body.prepend(row(ev)); // events arrive oldest first, so the newest ends on top
      }
      shown += data.events.length;
      while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
      if (data.cursor) cursor = data.cursor;
      if (cursor && data.events.length >= limit) again = 0; // a full page: more are waiting
      empty.hidden = body.rows.length > 0;
      status.textContent = "live — " + shown + " events received, last update " + new Date().toLocaleTimeString();
      status.className = "ok";
    } catch (err) {
      status.textContent = "cannot reach sipwarden (" + err.message + "), retrying…";
      status.className = "error";
    }
    window.setTimeout(poll, again);
  }

  poll();
})();
