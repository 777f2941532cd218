"use strict";
const G = JSON.parse(document.getElementById("microgrid-graph").textContent);
const byId = new Map(G.nodes.map((n) => [n.id, n]));
const neuronByBox = new Map(G.neurons.map((n) => [n.box, n]));
const neuronOf = new Map();
for (const n of G.neurons) { for (const v of [n.pre, n.out, ...n.params]) if (!neuronOf.has(v)) neuronOf.set(v, n); }
const N = G.steps.length;
// state[k]: grad text and pending count of every value after step k (k = 0: the forward pass only)
const states = [new Map()];
for (const s of G.steps) {
  const st = new Map(states[states.length - 1]);
  for (const a of s.adds) st.set(a.to, { text: a.grad_text, exact: a.grad, pending: a.pending });
  states.push(st);
}
// "the * node #2" where several unlabelled nodes share an op, so that every name is one node's
const nth = new Map();
const opCount = new Map();
for (const n of G.nodes) {
  if (n.op && !n.label) { opCount.set(n.op, (opCount.get(n.op) || 0) + 1); nth.set(n.id, opCount.get(n.op)); }
}
let current = 0;
let view = "main";
let selected = null;
let pinned = false;

function esc(t) { return String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function name(id) {
  const n = byId.get(id);
  const nb = neuronOf.get(id);
  if (nb && (id === nb.pre || id === nb.out)) {
    const dot = id === nb.pre && nb.pre !== nb.out ? " (its " + n.op + " node)" : "";
    return nb.key + " of " + (nb.layer || "the network") + dot;
  }
  if (n.label) return "'" + n.label + "'";
  if (!n.op) return "the constant " + n.data_text;
  return "the " + n.op + " node" + (opCount.get(n.op) > 1 ? " #" + nth.get(id) : "");
}
function gradText(st) {
  if (!st) return "grad \u2014";
  return "grad " + st.text + (st.pending > 0 ? " \u2026" : "");
}
function V() { return G.views[view]; }
function el(svgId) { return document.getElementById(V().prefix + svgId); }
function texts(node) { return Array.from(node.querySelectorAll("text")); }
function table(head, rows) {
  return "<table><tr>" + head.map((h) => "<th>" + h + "</th>").join("") + "</tr>" + rows.join("") + "</table>";
}

// Zoom and pan: each view's SVG fills #graph; its viewBox is the part shown, `s` CSS pixels a unit.
const box = document.getElementById("graph");
const cams = new Map();
function svgOf() { return document.querySelector('div.view[data-view="' + view + '"] svg'); }
function full() { return svgOf().dataset.full.split(" ").map(Number); }
function fitScale() { const [, , w, h] = full(); return Math.min(box.clientWidth / w, box.clientHeight / h); }
function readable() {  // the scale at which the smallest text of a node is (a bit over) 11 CSS pixels
  const sizes = Array.from(svgOf().querySelectorAll("g.node text")).map((t) => Number(t.getAttribute("font-size")));
  return 11.1 / Math.min(...sizes.filter((x) => x > 0), 11);
}
function cam() { return cams.get(view); }
function apply() {
  const c = cam();
  svgOf().setAttribute("viewBox", [c.x, c.y, box.clientWidth / c.s, box.clientHeight / c.s].join(" "));
}
function zoom(f, px = box.clientWidth / 2, py = box.clientHeight / 2) {
  const c = cam();
  const s = Math.max(fitScale() / 2, Math.min(8, c.s * f));
  c.x += px / c.s - px / s; c.y += py / c.s - py / s; c.s = s;
  apply();
}
function fit() {
  const [x, y, w, h] = full();
  const s = fitScale();
  cams.set(view, { s, x: x - (box.clientWidth / s - w) / 2, y: y - (box.clientHeight / s - h) / 2 });
  apply();
}
// Pan (at this zoom) so that the view shows [lo, hi] along one axis, moving as little as it can; when
// that does not fit, centre it, as far as [keepLo, keepHi] (the highlighted node) stays in view.
function pan(at, size, lo, hi, keepLo, keepHi) {
  const m = 20 / cam().s;
  if (hi - lo <= size - 2 * m) return lo < at + m ? lo - m : hi > at + size - m ? hi - size + m : at;
  return Math.min(Math.max((lo + hi - size) / 2, keepHi - size + m), keepLo - m);
}
function reveal(groups) {  // the highlighted node first, then its red edges and what they reach
  const c = cam();
  const t = svgOf().querySelector("g.graph").transform.baseVal.consolidate().matrix;  // dot's translate
  const boxes = groups.map((g) => g.getBBox()).map((b) => [b.x + t.e, b.y + t.f, b.x + b.width + t.e,
                                                             b.y + b.height + t.f]);
  const [x0, y0, x1, y1] = [0, 1, 2, 3].map((i) => (i < 2 ? Math.min : Math.max)(...boxes.map((b) => b[i])));
  c.x = pan(c.x, box.clientWidth / c.s, x0, x1, boxes[0][0], boxes[0][2]);
  c.y = pan(c.y, box.clientHeight / c.s, y0, y1, boxes[0][1], boxes[0][3]);
  apply();
}
function start() {  // readable text, the graph's left end (where the forward pass starts), centred
  const [x, y, , h] = full();
  const s = Math.max(fitScale(), readable());
  cams.set(view, { s, x, y: y + h / 2 - box.clientHeight / s / 2 });
  if (fitScale() >= readable()) fit(); else apply();
}
let drag = null;
box.addEventListener("pointerdown", (e) => {
  if (e.target.closest("#zoom")) return;
  drag = { x: e.clientX, y: e.clientY, moved: false };
});
window.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
  drag.moved = true;
  box.classList.add("dragging");
  cam().x -= dx / cam().s; cam().y -= dy / cam().s;
  drag.x = e.clientX; drag.y = e.clientY;
  apply();
});
window.addEventListener("pointerup", () => { box.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });
box.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = box.getBoundingClientRect();
  zoom(Math.exp(-e.deltaY * 0.002), e.clientX - r.left, e.clientY - r.top);
}, { passive: false });
document.getElementById("zoom-in").addEventListener("click", () => zoom(1.25));
document.getElementById("zoom-out").addEventListener("click", () => zoom(0.8));
document.getElementById("fit").addEventListener("click", fit);

function paint() {
  const st = states[current];
  const v = V();
  for (const [vid, nodeId] of Object.entries(v.shows)) {
    const node = el(nodeId);
    if (!node) continue;
    for (const t of texts(node)) if (t.textContent.startsWith("grad ")) t.textContent = gradText(st.get(vid));
  }
  for (const [nodeId, vids] of Object.entries(v.tables)) {
    const node = el(nodeId);
    if (!node) continue;
    const grads = texts(node).filter((t) => t.textContent.startsWith("grad "));
    grads.forEach((t, i) => { t.textContent = gradText(st.get(vids[i])); });
  }
  document.querySelectorAll("g.firing").forEach((g) => g.classList.remove("firing"));
  document.querySelectorAll("g.hot").forEach((g) => g.classList.remove("hot"));
  const step = current > 0 ? G.steps[current - 1] : null;
  if (step) {
    const shown = el(v.shows[step.highlight] || v.head[step.highlight]);
    if (shown) shown.classList.add("firing");
    const hot = [];
    if (step.firing) {
      const head = v.head[step.firing];
      const op = el(head);
      if (op && head.endsWith("_op")) op.classList.add("firing");
      document.querySelectorAll('[id^="' + v.prefix + "e_" + head + '_"]').forEach((e) => {
        e.classList.add("hot");
        e.parentNode.appendChild(e);  // drawn over the other edges
        hot.push(e);
      });
    }
    const receivers = step.adds.filter((a) => a.from !== null).map((a) => el(v.shows[a.to] || "")).filter((g) => g);
    if (shown) reveal([shown, ...hot, ...receivers]);
  }
  document.getElementById("counter").textContent = current === 0 ? "forward pass (step 0 of " + N + ")"
    : "step " + current + " of " + N;
  document.getElementById("slider").value = current;
  let cap = step ? esc(step.caption) : "The forward pass: every value is computed, no gradient yet. " +
    "Step through the backward walk with the buttons, the slider or the arrow keys.";
  if (step && !step.caption.includes(" += ")) {  // what the red edges carry, to the nodes drawn
    const drawn = (id) => v.shows[id] !== undefined || Object.values(v.tables).some((ids) => ids.includes(id));
    const adds = step.adds.filter((a) => a.from !== null && drawn(a.to));
    const rows = adds.map((a) => esc(name(a.to) + " += " + a.from_grad_text + " \u00d7 " + a.local_text + " = " +
      a.amount_text)).join("; ");
    const kinds = new Set(adds.map((a) => {
      const nb = neuronOf.get(a.to);
      if (nb && view === "main" && a.to === nb.out) return "neurons of " + (nb.layer || "the network");
      return { input: "inputs", parameter: "parameters" }[byId.get(a.to).role] || "values";
    }));
    const what = adds.length + " " + (kinds.size === 1 ? [...kinds][0] : "values");
    if (adds.length > 2) cap += '<br><span class="sends">sends to ' + esc(what) + ' <button id="unfold" type="button">' +
      '(show)</button><span id="folded" hidden>: ' + rows + "</span></span>";
    else if (adds.length) cap += '<br><span class="sends">sends: ' + rows + "</span>";
  }
  document.getElementById("caption").innerHTML = cap;
  const unfold = document.getElementById("unfold");
  if (unfold) unfold.addEventListener("click", () => { unfold.hidden = true; document.getElementById("folded").hidden = false; });
  ["first", "prev"].forEach((b) => { document.getElementById(b).disabled = current === 0; });
  ["next", "last"].forEach((b) => { document.getElementById(b).disabled = current === N; });
  if (selected) details(selected);
}

function show(k) { current = Math.max(0, Math.min(N, k)); paint(); }

function setView(name) {
  view = name;
  document.querySelectorAll("div.view").forEach((d) => { d.hidden = d.dataset.view !== view; });
  if (!cams.has(view)) start();
  paint();
}

function sumHtml(n) {
  if (n.root) return "<p>grad = <b>1</b>: the seed, d output / d output.</p>";
  if (!n.terms.length) return "<p>grad = 0: nothing below the output uses it.</p>";
  const rows = n.terms.map((t) => {
    const later = t.step > current ? ' class="later" title="added at step ' + t.step + '"' : "";
    return "<tr" + later + "><td>" + esc(name(t.from)) + "</td><td>" + t.grad_text + "</td><td>\u00d7 " + t.local_text +
      "</td><td>= " + t.amount_text + "</td><td>" + t.step + "</td></tr>";
  });
  return "<p>grad = \u03a3 over consumers (consumer grad \u00d7 local derivative)</p>" +
    table(["consumer", "its grad", "local", "amount", "step"], rows) + "<p>= <b>" + n.grad_text + "</b></p>";
}

function details(sel) {
  selected = sel;
  const panel = document.getElementById("details");
  document.querySelectorAll("g.selected").forEach((g) => g.classList.remove("selected"));
  const neuron = neuronByBox.get(sel);
  const vid = neuron ? neuron.out : sel;
  const n = byId.get(vid);
  if (!n) { panel.innerHTML = ""; return; }
  const st = states[current].get(vid);
  let h = "";
  if (neuron) {
    h += "<h2>" + esc(neuron.key) + " of " + esc(neuron.layer || "the network") + "</h2>";
    h += '<p><button id="expand" type="button">expand to its weights</button></p>';
  } else {
    h += "<h2>" + esc(name(vid)) + "</h2>";
    const nb = neuronOf.get(vid);
    if (view !== "main" && nb && view === nb.box) h += '<p><button id="collapse" type="button">collapse ' +
      esc(nb.key) + "</button></p>";
  }
  h += "<p>" + (n.op ? "op <code>" + esc(n.op) + "</code> of " + n.parents.map((p) => esc(name(p))).join(", ")
    : (n.role === "parameter" ? "a parameter (trained leaf)" : n.role === "input" ? "an input (data leaf)"
      : "a leaf")) + "</p>";
  h += "<p>value <b>" + n.data_text + '</b> <span class="hint">(exactly <span class="exact data-exact">' +
    n.data + "</span>)</span></p>";
  h += "<p>at this step: <b>" + esc(gradText(st)) + "</b><br>final grad <b>" + n.grad_text +
    '</b> <span class="hint">(exactly <span class="exact grad-exact">' + n.grad + "</span>)</span></p>";
  if (n.parents.length) {
    h += "<p>local derivative to each operand:</p>" + table(["operand", "local"], n.parents.map((p, i) =>
      "<tr><td>\u2202/\u2202 " + esc(name(p)) + "</td><td>" + n.local_text[i] + "</td></tr>"));
  }
  h += sumHtml(n);
  if (neuron) {
    h += "<p>its weights and bias:</p>" + table(["parameter", "value", "grad now", "final grad (exact)"],
      neuron.params.map((p) => { const q = byId.get(p); return '<tr class="param" data-id="' + p + '"><td>' +
        esc(q.label || p) + "</td><td>" + q.data_text + "</td><td>" + esc(gradText(states[current].get(p))) +
        '</td><td class="exact grad-exact">' + q.grad + "</td></tr>"; }));
  }
  panel.innerHTML = h;
  const ex = document.getElementById("expand");
  if (ex) ex.addEventListener("click", () => { setView(neuron.box); details(neuron.pre); });
  const co = document.getElementById("collapse");
  if (co) co.addEventListener("click", () => { const nb = neuronOf.get(vid); setView("main"); details(nb.box); });
  const node = el(V().shows[vid] && !neuron ? V().shows[vid] : sel) || el(V().head[vid] || "");
  if (node) node.classList.add("selected");
}

function nodeKey(g) {
  const id = g.id.slice(V().prefix.length);
  if (id.startsWith("box")) return id;
  const m = /^v\d+/.exec(id);
  if (!m) return null;
  if (id.endsWith("_op")) return m[0];
  for (const [vid, nodeId] of Object.entries(V().shows)) if (nodeId === id) return vid;
  if (V().tables[id]) return V().tables[id][0];
  return m[0];
}

document.querySelectorAll("div.view svg").forEach((svg) => { svg.dataset.full = svg.getAttribute("viewBox"); });
document.querySelectorAll("div.view g.node").forEach((g) => {
  const outline = g.querySelector("polygon, path, ellipse");
  if (outline) outline.classList.add("outline");
  g.addEventListener("click", (e) => {
    const k = nodeKey(g);
    if (k && !(drag && drag.moved)) { pinned = true; details(k); }
    e.stopPropagation();
  });
  g.addEventListener("mouseenter", () => { const k = nodeKey(g); if (k && !pinned && !drag) details(k); });
});
box.addEventListener("click", () => { if (!(drag && drag.moved)) pinned = false; });
document.getElementById("first").addEventListener("click", () => show(0));
document.getElementById("prev").addEventListener("click", () => show(current - 1));
document.getElementById("next").addEventListener("click", () => show(current + 1));
document.getElementById("last").addEventListener("click", () => show(N));
document.getElementById("slider").addEventListener("input", (e) => show(Number(e.target.value)));
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
  const keys = { ArrowLeft: () => show(current - 1), ArrowRight: () => show(current + 1), Home: () => show(0),
    End: () => show(N), "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8), "0": fit };
  if (keys[e.key]) { keys[e.key](); e.preventDefault(); }
});
window.addEventListener("resize", apply);
setView("main");
