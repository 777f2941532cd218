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
let current = 0;
let view = "main";
let selected = null;
let pinned = false;

function esc(t) { return String(t).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
function name(id) {
  const n = byId.get(id);
  if (n.label) return "'" + n.label + "'";
  if (!n.op) return "the constant " + n.data_text;
  const neuron = neuronOf.get(id);
  if (neuron && neuron.out === id && view === "main") return neuron.key + " of " + (neuron.layer || "the network");
  return "the " + n.op + " node";
}
function gradText(st) {
  if (!st) return "grad \u2014";
  return "grad " + st.text + (st.pending > 0 ? " \u2026" : "");
}
function V() { return G.views[view]; }
function el(svgId) { return document.getElementById(V().prefix + svgId); }
function texts(node) { return Array.from(node.querySelectorAll("text")); }

function paint() {
  const st = states[current];
  const v = V();
  for (const [vid, nodeId] of Object.entries(v.shows)) {
    const node = el(nodeId);
    if (!node) continue;
    const n = byId.get(vid);
    for (const t of texts(node)) {
      if (t.textContent.startsWith("grad ")) t.textContent = gradText(st.get(vid));
      else if (t.textContent.startsWith("data ")) t.textContent = "data " + n.data_text;
    }
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
    for (const w of (step.firing ? [step.firing] : [])) {
      const head = v.head[w];
      const op = el(head);
      if (op && head.endsWith("_op")) op.classList.add("firing");
      document.querySelectorAll('[id^="' + v.prefix + "e_" + head + '_"]').forEach((e) => e.classList.add("hot"));
    }
  }
  document.getElementById("counter").textContent = current === 0 ? "forward pass (step 0 of " + N + ")"
    : "step " + current + " of " + N;
  document.getElementById("slider").value = current;
  let cap = step ? esc(step.caption) : "The forward pass: every value is computed, no gradient yet. " +
    "Step through the backward walk with the buttons, the slider or the arrow keys.";
  if (step && !step.caption.includes(" += ")) {  // list what the red edges carry, to the nodes drawn
    const drawn = (id) => v.shows[id] !== undefined || Object.values(v.tables).some((ids) => ids.includes(id));
    const rows = step.adds.filter((a) => a.from !== null && drawn(a.to)).map((a) =>
      name(a.to) + " += " + a.from_grad_text + " \u00d7 " + a.local_text + " = " + a.amount_text);
    if (rows.length) cap += '<br><span class="sends">sends: ' + rows.map(esc).join("; ") + "</span>";
  }
  document.getElementById("caption").innerHTML = cap;
  ["first", "prev"].forEach((b) => { document.getElementById(b).disabled = current === 0; });
  ["next", "last"].forEach((b) => { document.getElementById(b).disabled = current === N; });
  if (selected) details(selected);
}

function show(k) { current = Math.max(0, Math.min(N, k)); paint(); }

function setView(name) {
  view = name;
  document.querySelectorAll("div.view").forEach((d) => { d.hidden = d.dataset.view !== view; });
  paint();
}

function sumHtml(n) {
  if (n.root) return "<p>grad = <b>1</b>: the seed, d output / d output.</p>";
  if (!n.terms.length) return "<p>grad = 0: nothing below the output uses it.</p>";
  const rows = n.terms.map((t) => {
    const later = t.step > current ? ' class="later" title="added at step ' + t.step + '"' : "";
    return "<tr" + later + "><td>" + esc(name(t.from)) + "</td><td>" + t.grad_text + " \u00d7 " + t.local_text +
      "</td><td>= " + t.amount_text + "</td><td>step " + t.step + "</td></tr>";
  }).join("");
  return "<p>grad = \u03a3 over consumers (consumer grad \u00d7 local derivative)</p>" +
    "<table><tr><th>consumer</th><th>grad \u00d7 local</th><th></th><th></th></tr>" + rows + "</table>" +
    "<p>= <b>" + n.grad_text + "</b></p>";
}

function details(sel) {
  selected = sel;
  const box = document.getElementById("details");
  document.querySelectorAll("g.selected").forEach((g) => g.classList.remove("selected"));
  const neuron = neuronByBox.get(sel);
  let vid = neuron ? neuron.out : sel;
  const n = byId.get(vid);
  if (!n) { box.innerHTML = ""; return; }
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
  h += "<p>data <b>" + n.data_text + '</b> <span class="hint">(exactly <span class="exact data-exact">' +
    n.data + "</span>)</span></p>";
  h += "<p>at this step: <b>" + esc(gradText(st)) + "</b><br>final grad <b>" + n.grad_text +
    '</b> <span class="hint">(exactly <span class="exact grad-exact">' + n.grad + "</span>)</span></p>";
  if (n.parents.length) {
    h += "<p>local derivative to each parent:</p><table>" + n.parents.map((p, i) =>
      "<tr><td>\u2202/\u2202 " + esc(name(p)) + "</td><td>" + n.local_text[i] + "</td></tr>").join("") + "</table>";
  }
  h += sumHtml(n);
  if (neuron) {
    h += "<p>its weights and bias:</p><table><tr><th>parameter</th><th>data</th><th>grad</th></tr>" +
      neuron.params.map((p) => { const q = byId.get(p); return '<tr class="param" data-id="' + p + '"><td>' +
        esc(q.label || p) + "</td><td>" + q.data_text + '</td><td>' + esc(gradText(states[current].get(p))) +
        ' <span class="exact grad-exact">' + q.grad + "</span></td></tr>"; }).join("") + "</table>";
  }
  box.innerHTML = h;
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

document.querySelectorAll("div.view g.node").forEach((g) => {
  g.addEventListener("click", (e) => { const k = nodeKey(g); if (k) { pinned = true; details(k); } e.stopPropagation(); });
  g.addEventListener("mouseenter", () => { const k = nodeKey(g); if (k && !pinned) details(k); });
});
document.getElementById("graph").addEventListener("click", () => { pinned = false; });
document.getElementById("first").addEventListener("click", () => show(0));
document.getElementById("prev").addEventListener("click", () => show(current - 1));
document.getElementById("next").addEventListener("click", () => show(current + 1));
document.getElementById("last").addEventListener("click", () => show(N));
document.getElementById("slider").addEventListener("input", (e) => show(Number(e.target.value)));
document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "range") return;
  if (e.key === "ArrowLeft") { show(current - 1); e.preventDefault(); }
  else if (e.key === "ArrowRight") { show(current + 1); e.preventDefault(); }
  else if (e.key === "Home") { show(0); e.preventDefault(); }
  else if (e.key === "End") { show(N); e.preventDefault(); }
});
setView("main");
