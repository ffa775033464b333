/* segments catalog: the page, built from the JSON embedded in the page.
   No request leaves the page: the data is inline and uPlot is loaded beside it.
   The list is built from #catalog-list (small, before this script); #catalog-data
   (every run of every segment: 20 MB for 500 x 365) comes after it, so the list
   works while the browser still reads the runs; they are parsed when a segment is
   first opened, and its charts drawn then. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("catalog-list").textContent);
  var segments = data.segments;
  var full = null;  // name -> the segment's whole entry, once #catalog-data is parsed
  var rows = [];
  var charts = [];
  var COLORS = { rows: "#1f6feb", guard: "#d29922", failed: "#cf222e", added: "#1a7f37", removed: "#cf222e" };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function number(n) { return n === null || n === undefined ? "" : n.toLocaleString("en-US"); }
  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : ""; }
  function lastRun(seg) { return seg.runs.length ? seg.runs[seg.runs.length - 1] : null; }
  function entry(name) {
    if (full === null) {
      full = {};
      JSON.parse(document.getElementById("catalog-data").textContent).segments.forEach(function (s) { full[s.name] = s; });
    }
    return full[name];
  }
  function destinationGroup(dest) {
    var m = /^s3:\/\/[^/]+/.exec(dest);
    if (m) return m[0];
    var parts = dest.split("/");
    return parts.length > 1 ? parts.slice(0, -1).join("/") + "/" : dest;
  }
  function statusOf(seg) {
    return seg.last && seg.last.status !== "success" ? "last run " + seg.last.status : "";
  }
  function badge(state) { return el("span", { className: "badge " + state, text: state }); }

  function fill(select, values) {
    values.sort().forEach(function (value) { select.appendChild(el("option", { value: value, text: value })); });
  }

  function buildList() {
    var owners = {}, labels = {}, dests = {}, statuses = { fresh: 1, stale: 1, never: 1 };
    var body = document.querySelector("#segments tbody");
    var frag = document.createDocumentFragment();
    segments.forEach(function (seg) {
      var run = seg.last;
      seg._group = destinationGroup(seg.destination);
      seg._status = statusOf(seg);
      seg._hay = [seg.name, seg.description, seg.owner, seg.labels.join(" "), seg.destination,
        seg.filter_text, seg.file].join("\n").toLowerCase();
      if (seg.owner) owners[seg.owner] = 1;
      seg.labels.forEach(function (l) { labels[l] = 1; });
      dests[seg._group] = 1;
      statuses[seg.freshness] = 1;
      if (seg._status) statuses[seg._status] = 1;
      var link = el("a", { href: "#segment=" + encodeURIComponent(seg.name), text: seg.name });
      var tr = el("tr", { "data-name": seg.name }, [
        el("td", { className: "name" }, [link]),
        el("td", { className: "owner", text: seg.owner || "(no owner)" }),
        el("td", { className: "labels", text: seg.labels.join(", ") }),
        el("td", { className: "dest", text: seg.destination }),
        el("td", { className: "freshness" }, [badge(seg.freshness)]),
        el("td", { className: "last", text: run ? run.status + " " + when(run.ended) : "never run" }),
        el("td", { className: "num", text: number(seg.last_rows) })
      ]);
      rows.push({ seg: seg, tr: tr });
      frag.appendChild(tr);
    });
    body.appendChild(frag);
    fill(document.getElementById("owner"), Object.keys(owners));
    fill(document.getElementById("label"), Object.keys(labels));
    fill(document.getElementById("destination"), Object.keys(dests));
    fill(document.getElementById("status"), Object.keys(statuses));
  }

  function applyFilters() {
    var words = document.getElementById("search").value.toLowerCase().split(/\s+/).filter(Boolean);
    var owner = document.getElementById("owner").value;
    var label = document.getElementById("label").value;
    var dest = document.getElementById("destination").value;
    var status = document.getElementById("status").value;
    var shown = 0;
    rows.forEach(function (row) {
      var s = row.seg;
      var ok = words.every(function (w) { return s._hay.indexOf(w) >= 0; }) &&
        (!owner || s.owner === owner) && (!label || s.labels.indexOf(label) >= 0) &&
        (!dest || s._group === dest) && (!status || s.freshness === status || s._status === status);
      row.tr.hidden = !ok;
      if (ok) shown++;
    });
    document.getElementById("shown").textContent = shown + " of " + segments.length + " segments";
  }

  function describeRows(seg) {
    var counted = seg.runs.filter(function (r) { return r.rows !== null; });
    var failed = seg.runs.filter(function (r) { return r.status === "failed" || r.status === "interrupted"; }).length;
    var guards = seg.runs.filter(function (r) { return r.status === "guard"; }).length;
    if (!seg.runs.length) return "No runs recorded yet.";
    var text = "Rows per run: " + seg.runs.length + " runs from " + when(seg.runs[0].ended) + " to " +
      when(seg.runs[seg.runs.length - 1].ended) + ". ";
    if (counted.length) {
      var last = counted[counted.length - 1];
      text += "Last count " + number(last.rows) + " rows (" + last.status + ", " + when(last.ended) + ")";
      if (counted.length > 1) {
        var prev = counted[counted.length - 2].rows, change = last.rows - prev;
        text += ", " + (change >= 0 ? "+" : "") + number(change) + " on the run before" +
          (prev ? " (" + (change >= 0 ? "+" : "") + (100 * change / prev).toFixed(1) + "%)" : "");
      }
      text += ". ";
    }
    return text + failed + " failed, " + guards + " stopped by a guard.";
  }

  function chart(target, seg, series, values, alt) {
    var figure = el("figure", { className: "chart", role: "img", "aria-label": alt });
    var holder = el("div", { className: "plot" });
    figure.appendChild(holder);
    figure.appendChild(el("figcaption", { className: "chart-alt", text: alt }));
    target.appendChild(figure);
    var width = Math.max(320, Math.min(900, target.clientWidth - 16));
    // Once drawn: where each point of the first series landed, in canvas pixels. The
    // tests read the canvas there, so "four runs, four points" is checked on the drawing.
    var drawn = function (u) {
      var points = [];
      values[0].forEach(function (x, i) {
        var y = values[1][i];
        if (y !== null) points.push([Math.round(u.valToPos(x, "x", true)), Math.round(u.valToPos(y, "y", true))]);
      });
      holder.setAttribute("data-points", JSON.stringify(points));
    };
    var plot = new uPlot({ width: width, height: 220, series: series, legend: { show: true },
      scales: { x: { time: true } }, axes: [{}, { size: 70 }], hooks: { draw: [drawn] } }, values, holder);
    charts.push(plot);
    return plot;
  }

  function rowsChart(target, seg) {
    var xs = [], ok = [], guard = [], failed = [];
    seg.runs.forEach(function (r) {
      xs.push(Date.parse(r.ended) / 1000);
      ok.push(r.status === "success" ? r.rows : null);
      guard.push(r.status === "guard" ? r.rows : null);
      failed.push(r.status === "failed" || r.status === "interrupted" ? 0 : null);
    });
    var dots = function (color) { return { show: true, size: 7, stroke: color, fill: color }; };
    chart(target, seg, [
      {},
      { label: "rows (published)", stroke: COLORS.rows, width: 2, spanGaps: true, points: dots(COLORS.rows) },
      { label: "guard tripped (rows kept back)", stroke: COLORS.guard, width: 0, points: dots(COLORS.guard) },
      { label: "failed (no count)", stroke: COLORS.failed, width: 0, points: dots(COLORS.failed) }
    ], [xs, ok, guard, failed], describeRows(seg));
  }

  function deltaChart(target, seg) {
    var runs = seg.runs.filter(function (r) { return r.added !== undefined; });
    if (!runs.length) return;
    var last = runs[runs.length - 1];
    var alt = "Added and removed per run: " + runs.length + " delta runs; last run +" + number(last.added) +
      " added, -" + number(last.removed) + " removed (" + when(last.ended) + ").";
    chart(target, seg, [
      {},
      { label: "added", stroke: COLORS.added, width: 2, points: { show: true, size: 5 } },
      { label: "removed", stroke: COLORS.removed, width: 2, points: { show: true, size: 5 } }
    ], [runs.map(function (r) { return Date.parse(r.ended) / 1000; }),
      runs.map(function (r) { return r.added; }), runs.map(function (r) { return r.removed; })], alt);
  }

  function facts(pairs) {
    var dl = el("dl", { className: "facts" });
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") return;
      dl.appendChild(el("dt", { text: p[0] }));
      dl.appendChild(el("dd", {}, [p[1]]));
    });
    return dl;
  }

  function detailOf(seg, i) {
    var d = seg.run_details, commit = d.commit[i];
    return { seconds: d.seconds[i], commit: commit === null ? "" : seg.commits[commit],
      fingerprint: d.fingerprint[i], error: d.error[String(i)] || "",
      accepted: d.accepted_change.indexOf(i) >= 0 };
  }

  function runsTable(seg, limit) {
    var table = el("table", { className: "runs" });
    table.appendChild(el("thead", {}, [el("tr", {}, ["Ended", "Status", "Rows", "Added", "Removed", "Seconds",
      "Commit", "Body fingerprint", "Note"].map(function (h) { return el("th", { text: h }); }))]));
    var body = el("tbody");
    for (var i = seg.runs.length - 1; i >= Math.max(0, seg.runs.length - limit); i--) {
      var r = seg.runs[i], d = detailOf(seg, i);
      var note = d.error + (d.accepted ? " change accepted (--accept-change)" : "");
      body.appendChild(el("tr", { className: r.status }, [
        el("td", { text: when(r.ended) }), el("td", { text: r.status }), el("td", { className: "num", text: number(r.rows) }),
        el("td", { className: "num", text: number(r.added) }), el("td", { className: "num", text: number(r.removed) }),
        el("td", { className: "num", text: d.seconds.toFixed(1) }),
        el("td", { className: "hash", title: d.commit, text: d.commit.slice(0, 12) }),
        el("td", { className: "hash", text: d.fingerprint }), el("td", { text: note })
      ]));
    }
    table.appendChild(body);
    return table;
  }

  function showDetail(name) {
    var panel = document.getElementById("detail");
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    panel.textContent = "";
    var seg = name ? entry(name) : null;
    if (!seg) { panel.hidden = true; return; }
    var run = lastRun(seg), last = run ? detailOf(seg, seg.runs.length - 1) : null;
    panel.hidden = false;
    panel.appendChild(el("h2", { text: seg.name }));
    if (seg.description) panel.appendChild(el("p", { className: "description", text: seg.description }));
    panel.appendChild(facts([
      ["Owner", seg.owner || "(no owner)"], ["Labels", seg.labels.join(", ")], ["File", seg.file],
      ["Freshness", el("span", {}, [badge(seg.freshness), " " + seg.freshness_text +
        (seg.fresh_within ? " (expect.fresh_within " + seg.fresh_within + ")" : "")])],
      ["Last run", run ? run.status + ", " + (run.rows === null ? "no count" : number(run.rows) + " rows") + ", " +
        when(run.ended) + ", " + last.seconds.toFixed(1) + " s" + (last.error ? ": " + last.error : "") : "never run"],
      ["Output", seg.destination], ["Format", seg.format + (seg.preset ? " (preset " + seg.preset + ")" : "")],
      ["Split", seg.split], ["Mode", seg.mode + (seg.delta ? ", with added/removed files" : "")],
      ["History", seg.history]
    ]));
    panel.appendChild(el("h3", { text: "Who is in it" }));
    panel.appendChild(el("p", { className: "filter-text", text: seg.filter_text }));
    var raw = el("details", { className: "raw" }, [el("summary", { text: "Request body (JSON)" }),
      el("pre", { text: JSON.stringify(seg.body, null, 2) })]);
    panel.appendChild(raw);
    panel.appendChild(el("h3", { text: "Rows per run" }));
    if (seg.runs.length) {
      rowsChart(panel, seg);
      if (seg.delta) { panel.appendChild(el("h3", { text: "Added and removed per run" })); deltaChart(panel, seg); }
      panel.appendChild(el("h3", { text: "Runs (newest first" + (seg.runs.length > 50 ? ", the last 50 of " + seg.runs.length : "") + ")" }));
      panel.appendChild(runsTable(seg, 50));
    } else {
      panel.appendChild(el("p", { className: "chart-alt", text: describeRows(seg) }));
    }
    panel.scrollIntoView({ block: "start" });
  }

  function route() {
    if (document.readyState === "loading") return;  // the runs are still arriving: see below
    var m = /^#segment=(.+)$/.exec(location.hash);
    showDetail(m ? decodeURIComponent(m[1]) : "");
  }

  document.getElementById("title").textContent = "Segments catalog: " + data.project;
  document.title = "Segments: " + data.project;
  var counts = { fresh: 0, stale: 0, never: 0 };
  segments.forEach(function (s) { counts[s.freshness] = (counts[s.freshness] || 0) + 1; });
  document.getElementById("built").textContent = segments.length + " segments: " + counts.fresh + " fresh, " +
    counts.stale + " stale, " + counts.never + " never published. Built " + when(data.generated) +
    " (freshness as of " + when(data.as_of) + ") by segment-runner " + data.runner_version + ".";
  buildList();
  applyFilters();
  ["search", "owner", "label", "destination", "status"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", applyFilters);
  });
  window.addEventListener("hashchange", route);
  // When the list could first be used, in ms since navigation began (the tests read it);
  // a segment named in the address is opened after that.
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-ready", "true");
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", route);
  else route();
})();
