// The dashboard's only script: draws the overview charts (Chart.js, served by sipwarden) and
// polls the live feed. Event text comes from attackers, so it is only ever set as textContent.
"use strict";

(function () {
  const base = document.body.dataset.base || "";
  const MAX_FEED_ROWS = 100;
  const POLL_MS = 2000;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function charts() {
    const holder = document.getElementById("chart-data");
    if (!holder || typeof Chart === "undefined") return;
    const data = JSON.parse(holder.textContent);
    Chart.defaults.color = css("--muted");
    Chart.defaults.borderColor = css("--line");
    Chart.defaults.animation = false;
    const palette = ["#1f5fa8", "#b3261e", "#8a5a00", "#1e6b35", "#6a3fa0", "#00838f", "#ad1457", "#5d4037", "#546e7a", "#f9a825"];
    window.sipwardenCharts = [
      new Chart(document.getElementById("chart-hours"), {
        type: "bar",
        data: { labels: data.hours, datasets: [{ label: "events", data: data.counts, backgroundColor: css("--accent") }] },
        options: { maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { x: { ticks: { maxTicksLimit: 8 } } } },
      }),
      new Chart(document.getElementById("chart-countries"), {
        type: "bar",
        data: { labels: data.countries.labels, datasets: [{ label: "calls", data: data.countries.counts, backgroundColor: palette }] },
        options: { indexAxis: "y", maintainAspectRatio: false, plugins: { legend: { display: false } } },
      }),
      new Chart(document.getElementById("chart-kinds"), {
        type: "doughnut",
        data: { labels: data.kinds.labels, datasets: [{ data: data.kinds.counts, backgroundColor: palette }] },
        options: { maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
      }),
    ];
  }

  function cell(tr, text, href) {
    const td = document.createElement("td");
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return td;
  }

  function feed() {
    const body = document.getElementById("feed");
    if (!body) return;
    const status = document.getElementById("feed-status");
    let cursor = "";
    async function poll() {
      try {
        const url = base + "/api/feed" + (cursor ? "?after=" + encodeURIComponent(cursor) : "");
        const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!r.ok) throw new Error("HTTP " + r.status);
        const page = await r.json();
        for (const ev of page.events) {
          const tr = document.createElement("tr");
          cell(tr, ev.ts.replace("T", " ").slice(0, 19)).className = "ts";
          cell(tr, ev.kind).className = "kind kind-" + ev.kind.replace(/[^a-z_]/g, "");
          cell(tr, ev.src_ip || "", ev.src_ip ? base + "/attackers/" + encodeURIComponent(ev.src_ip) : null);
          cell(tr, ev.username || "");
          cell(tr, ev.target || "", ev.target_e164 ? base + "/numbers/" + encodeURIComponent(ev.target_e164) : null);
          cell(tr, ev.tool || ev.user_agent || "").className = "ua";
          body.insertBefore(tr, body.firstChild);
        }
        while (body.rows.length > MAX_FEED_ROWS) body.deleteRow(body.rows.length - 1);
        cursor = page.cursor || cursor;
        status.textContent = "live";
      } catch (err) {
        status.textContent = "(" + err.message + ", retrying)";
      }
      setTimeout(poll, POLL_MS);
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    charts();
    feed();
  });
})();
