// spinnaker-emu view: draws the snapshot the server pushes over /ws (see snapshot.py).
// The SVG is built once per machine shape; later snapshots only change attributes,
// so a page left open costs the browser little.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const S = 60;                          // distance between neighbouring chip centres
const R = 0.43 * S;                    // hexagon circumradius (gaps show the links)
const STATE_COLOURS = {
  IDLE: "#e6e6e6", RUN: "#2ca02c", PAUSE: "#1f77b4", SYNC0: "#9467bd", SYNC1: "#c5b0d5",
  WAIT: "#bcbd22", INIT: "#17becf", SARK: "#8c564b", EXIT: "#7f7f7f", RTE: "#d62728",
  WDOG: "#ff7f0e", PWRDN: "#444444", DEAD: "#000000",
};
// link l of chip (x, y) goes to (x, y) + LINK_DELTAS[l] (machine/geometry.py)
const LINK_DELTAS = [[1, 0], [1, 1], [0, 1], [-1, 0], [-1, -1], [0, -1]];

let shape = null;                      // key of the machine drawn
let coreNodes = {};                    // "x,y,p" -> rect
let chipNodes = {};                    // "x,y" -> {hex, label, apps, links: {l: line}}
let selected = null;

// Chip coordinates (unwrapped from the board's Ethernet chip) -> screen: the hexagonal
// grid where E, NE and N neighbours are 60 degrees apart, y up.
function screen(u, v) { return [(u - 0.5 * v) * S, -v * S * Math.sqrt(3) / 2]; }

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function hexPoints(cx, cy, r) {
  const pts = [];
  for (let i = 0; i < 6; i++) {
    const a = Math.PI / 180 * (60 * i - 90);        // pointy top
    pts.push((cx + r * Math.cos(a)).toFixed(1) + "," + (cy + r * Math.sin(a)).toFixed(1));
  }
  return pts.join(" ");
}

function build(snap) {
  const svg = document.getElementById("machine");
  svg.innerHTML = "";
  coreNodes = {}; chipNodes = {};
  let minX = 1e9, minY = 1e9, maxX = -1e9, maxY = -1e9;
  for (const c of snap.chips) {
    const [sx, sy] = screen(c.pos[0], c.pos[1]);
    minX = Math.min(minX, sx); maxX = Math.max(maxX, sx);
    minY = Math.min(minY, sy); maxY = Math.max(maxY, sy);
  }
  const pad = S;
  svg.setAttribute("viewBox", [minX - pad, minY - pad, maxX - minX + 2 * pad,
                               maxY - minY + 2 * pad].join(" "));
  const gLinks = el("g", {}, svg), gChips = el("g", {}, svg);
  for (const c of snap.chips) {
    const key = c.x + "," + c.y;
    const [cx, cy] = screen(c.pos[0], c.pos[1]);
    const g = el("g", {"data-chip": key, "data-board": c.board}, gChips);
    const hex = el("polygon", {points: hexPoints(cx, cy, R), class: "chip"}, g);
    hex.dataset.tip = "chip " + key;
    const node = {hex: hex, links: {}, g: g};
    chipNodes[key] = node;
    el("text", {x: cx - R * 0.55, y: cy - R * 0.45}, g).textContent = key;
    node.apps = el("text", {x: cx - R * 0.55, y: cy + R * 0.62}, g);
    if (c.ip) {                                       // a board's Ethernet chip
      const t = el("text", {x: cx - R * 0.9, y: cy + R * 1.25, class: "board-ip"}, g);
      t.textContent = c.ip;
    }
    if (c.dead) {
      g.setAttribute("data-dead", "1");
      hex.classList.add("dead");
      const d = R * 0.4;
      el("path", {d: `M${cx - d},${cy - d}L${cx + d},${cy + d}M${cx + d},${cy - d}L${cx - d},${cy + d}`,
                  class: "deadmark"}, g);
    } else {
      // 18 cores as a 6 x 3 grid; core 0 (the monitor) first
      const w = R * 1.3 / 6, h = R * 0.75 / 3, x0 = cx - 3 * w, y0 = cy - 1.5 * h;
      for (let p = 0; p < (c.n_cores || 18); p++) {
        const r = el("rect", {x: x0 + (p % 6) * w, y: y0 + Math.floor(p / 6) * h,
                              width: w, height: h, class: "core" + (p ? "" : " monitor"),
                              "data-core": key + "," + p}, g);
        r.addEventListener("click", () => showCore(c.x, c.y, p));
        coreNodes[key + "," + p] = r;
      }
    }
    // each chip draws its half of each link, from its hexagon to the midpoint
    for (const lk of c.links) {
      const [dx, dy] = LINK_DELTAS[lk.link];
      const [ex, ey] = screen(c.pos[0] + dx, c.pos[1] + dy);
      const ux = (ex - cx) / S, uy = (ey - cy) / S, r0 = R * Math.sqrt(3) / 2;
      const line = el("line", {x1: cx + ux * r0, y1: cy + uy * r0, x2: cx + ux * S / 2,
                               y2: cy + uy * S / 2, class: "link",
                               "data-link": key + "," + lk.link}, gLinks);
      node.links[lk.link] = line;
    }
  }
  shape = shapeKey(snap);
}

function shapeKey(snap) {
  return snap.host + "|" + snap.chips.map(c => c.x + "," + c.y + (c.dead ? "d" : "")
                                          + (c.n_cores || 0)).join(";");
}

function rateColour(rate) {
  if (rate === null || rate === undefined) return "#bbb";
  if (rate <= 0) return "#ccc";
  // log scale: 1/s orange .. 1e5/s dark red
  const t = Math.min(1, Math.log10(rate + 1) / 5);
  const r = Math.round(250 - 90 * t), g = Math.round(150 - 150 * t);
  return `rgb(${r},${g},0)`;
}

function fmtRate(r) {
  return r === null || r === undefined ? "-" : (r >= 1000 ? (r / 1000).toFixed(1) + "k" : r.toFixed(0));
}

function update(snap) {
  const err = document.getElementById("error");
  if (snap.error || snap.waiting) { err.textContent = snap.error || snap.waiting; return; }
  err.textContent = "";
  if (shapeKey(snap) !== shape) build(snap);
  document.getElementById("host").textContent =
    snap.host + " (SC&MP " + snap.scamp + (snap.emulator ? ", emulator" : "") + ")";
  document.getElementById("chips").textContent =
    `${snap.n_live} of ${snap.n_chips} chips live, ${snap.n_dead} dead, ${snap.boards.length} board(s)`;
  const run = document.getElementById("run");
  if (snap.run) {
    run.dataset.ticks = snap.run.ticks;
    run.textContent = `run: ${snap.run.ticks} ticks done` +
      (snap.run.tick_rate !== null ? `, ${snap.run.tick_rate.toFixed(0)} ticks/s` : "") +
      `, ${snap.run.running_cores} of ${snap.run.ticking_cores} cores running`;
  } else {
    // no core of ours to read progress from (e.g. sPyNNaker's own binaries)
    run.dataset.ticks = "";
    run.textContent = snap.states.RUN ? `${snap.states.RUN} cores running` : "no run";
  }
  const legend = document.getElementById("legend");
  const states = JSON.stringify(snap.states);
  if (legend.dataset.states !== states) {
    legend.dataset.states = states;
    legend.innerHTML = "";
    for (const [name, n] of Object.entries(snap.states).sort()) {
      const item = document.createElement("span");
      item.dataset.stateCount = name;
      item.dataset.count = n;
      item.innerHTML = `<span class="sw" style="background:${STATE_COLOURS[name] || "#fff"}"></span>${name} ${n}`;
      legend.appendChild(item);
    }
  }
  for (const c of snap.chips) {
    const key = c.x + "," + c.y;
    const node = chipNodes[key];
    if (!node || c.dead) continue;
    const apps = new Set();
    for (const core of c.cores) {
      const r = coreNodes[key + "," + core.p];
      if (!r) continue;
      if (core.app_id !== undefined && core.p) apps.add(core.app_id);
      // touch the DOM only where something changed: a page open through a run must
      // cost the browser (and so the machine it shares CPUs with) next to nothing
      const tip = `core ${key},${core.p}: ${core.state}` +
        (core.app_id !== undefined ? ` app ${core.app_id} ${core.app_name}` : "") +
        (core.rt_code ? ` rt_code ${core.rt_code}` : "");
      if (r.dataset.tip === tip) continue;
      r.dataset.tip = tip;
      if (r.dataset.state !== core.state) {
        r.dataset.state = core.state;
        r.setAttribute("fill", STATE_COLOURS[core.state] || "#fff");
      }
    }
    const appText = apps.size ? "app " + [...apps].sort((a, b) => a - b).join(",") : "";
    if (node.apps.textContent !== appText) node.apps.textContent = appText;
    const rt = c.router;
    node.hex.classList.toggle("drops", !!(rt && rt.dropped_rate));
    const chipTip = `chip ${key}` + (c.ip ? ` (${c.ip})` : "") +
      (rt ? `\nMC ${fmtRate(rt.mc_rate)}/s, dropped ${fmtRate(rt.dropped_rate)}/s` +
            ` (totals ${rt.mc}, ${rt.dropped})` : "");
    node.hex.dataset.tip = chipTip;
    for (const lk of c.links) {
      const line = node.links[lk.link];
      if (!line) continue;
      const sig = lk.state + "|" + lk.mc_rate + "|" + lk.mc;
      if (line.dataset.sig === sig) continue;
      line.dataset.sig = sig;
      line.dataset.state = lk.state;
      line.classList.toggle("dead", lk.state === "dead");
      if (lk.state !== "dead") {
        line.setAttribute("stroke", rateColour(lk.mc_rate));
        line.setAttribute("stroke-width", lk.mc_rate > 0 ? 3 + Math.min(4, Math.log10(lk.mc_rate + 1)) : 2);
      }
      line.dataset.tip = `link ${lk.link} of ${key}: ${lk.state}` +
        (lk.mc_rate !== undefined ? `, MC ${fmtRate(lk.mc_rate)}/s (total ${lk.mc})` : "");
    }
  }
}

async function showCore(x, y, p) {
  if (selected) selected.classList.remove("selected");
  selected = coreNodes[x + "," + y + "," + p];
  if (selected) selected.classList.add("selected");
  const box = document.getElementById("detail");
  box.innerHTML = `<p>core ${x},${y},${p}: reading...</p>`;
  const res = await fetch(`/api/core/${x}/${y}/${p}`);
  const d = await res.json();
  if (d.error) { box.innerHTML = `<p>core ${x},${y},${p}: ${d.error}</p>`; return; }
  const hex = v => "0x" + (v >>> 0).toString(16).padStart(8, "0");
  box.innerHTML = "";
  const h = document.createElement("h3");
  h.textContent = `core ${x},${y},${p}`;
  box.appendChild(h);
  const t = document.createElement("table");
  t.id = "core-fields";
  const rows = [["state", d.state], ["app", `${d.app_id} ${d.app_name}`],
                ["rt_code", `${d.rt_code} (${d.rt_code_value})`]];
  d.user.forEach((u, i) => rows.push([`user${i}`, hex(u)]));
  for (const k of ["psr", "sp", "lr"]) if (d[k] !== undefined) rows.push([k, hex(d[k])]);
  for (const [k, v] of rows) {
    const tr = t.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v;
    tr.dataset.field = k;
  }
  box.appendChild(t);
  const pre = document.createElement("pre");
  pre.id = "iobuf";
  pre.textContent = d.iobuf || "(IOBUF empty)";
  box.appendChild(pre);
}

// One tooltip for the whole drawing (a <title> per shape would double the page's nodes)
function tooltips() {
  const tip = document.getElementById("tip");
  const svg = document.getElementById("machine");
  svg.addEventListener("mousemove", ev => {
    const text = ev.target.dataset && ev.target.dataset.tip;
    tip.style.display = text ? "block" : "none";
    if (text) {
      tip.textContent = text;
      tip.style.left = (ev.clientX + 12) + "px";
      tip.style.top = (ev.clientY + 12) + "px";
    }
  });
  svg.addEventListener("mouseleave", () => { tip.style.display = "none"; });
}

function connect() {
  const conn = document.getElementById("conn");
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.onopen = () => { conn.textContent = "live"; conn.className = ""; };
  ws.onmessage = ev => {
    const snap = JSON.parse(ev.data);
    update(snap);
    window.lastSnapshot = snap;              // for tests and the curious
    document.body.dataset.polls = snap.poll ? snap.poll.n : "";
    if (snap.poll) (window.pollSeconds = window.pollSeconds || []).push(snap.poll.seconds);
  };
  ws.onclose = () => { conn.textContent = "disconnected, retrying"; conn.className = "down";
                       setTimeout(connect, 2000); };
}

tooltips();
connect();
