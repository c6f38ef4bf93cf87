// The Flow as a graph: datasets and recipes in columns by depth (a source dataset is in column 0,
// a recipe one column right of its deepest input), ordered in each column by the barycenter of
// their neighbours to keep edges from crossing, drawn as SVG.

import {s} from "./dom.js";

const GAP_PX = 44; // between columns, for the edges
const ROW_PX = 58;
const SIZE = {dataset: {w: 140, h: 34}, recipe: {w: 96, h: 30}};
const PAD = 24;

/** Nodes {id, kind, name, ...} and edges [from, to] of the Flow from /datasets and /recipes. */
export function graphOf(datasets, recipes) {
  const nodes = new Map();
  for (const d of datasets) nodes.set(`d:${d.name}`, {id: `d:${d.name}`, kind: "dataset", name: d.name, item: d});
  for (const r of recipes) nodes.set(`r:${r.name}`, {id: `r:${r.name}`, kind: "recipe", name: r.name, item: r});
  const edges = [];
  for (const r of recipes) {
    for (const input of r.inputs) if (nodes.has(`d:${input}`)) edges.push([`d:${input}`, `r:${r.name}`]);
    for (const output of r.outputs) if (nodes.has(`d:${output}`)) edges.push([`r:${r.name}`, `d:${output}`]);
  }
  return {nodes, edges};
}

/** Positions {id: {x, y, column}} and the drawing's size; pure (tested through the page). */
export function layout({nodes, edges}) {
  const preds = new Map([...nodes.keys()].map((id) => [id, []]));
  const succs = new Map([...nodes.keys()].map((id) => [id, []]));
  for (const [a, b] of edges) {
    preds.get(b).push(a);
    succs.get(a).push(b);
  }
  const column = new Map();
  const depth = (id, seen = new Set()) => {
    if (column.has(id)) return column.get(id);
    if (seen.has(id)) return 0; // the project loader refuses cycles; never loop on one anyway
    seen.add(id);
    const ps = preds.get(id);
    const c = ps.length ? Math.max(...ps.map((p) => depth(p, seen))) + 1 : 0;
    column.set(id, c);
    return c;
  };
  for (const id of nodes.keys()) depth(id);
  // A source dataset read by one recipe sits in the column just left of it, not far away in column 0.
  for (const id of nodes.keys()) {
    if (preds.get(id).length === 0 && succs.get(id).length) {
      column.set(id, Math.min(...succs.get(id).map((n) => column.get(n))) - 1);
    }
  }
  const columns = [];
  for (const [id, c] of column) (columns[c] ||= []).push(id);
  for (const ids of columns) if (ids) ids.sort((a, b) => nodes.get(a).name.localeCompare(nodes.get(b).name));
  const order = new Map();
  const index = () => columns.forEach((ids) => ids && ids.forEach((id, i) => order.set(id, i)));
  const mean = (ids) => ids.reduce((sum, id) => sum + order.get(id), 0) / ids.length;
  index();
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const range = down ? columns.map((_, c) => c) : columns.map((_, c) => c).reverse();
    for (const c of range) {
      const ids = columns[c];
      if (!ids) continue;
      const near = (id) => (down ? preds : succs).get(id);
      const key = new Map(ids.map((id) => [id, near(id).length ? mean(near(id)) : order.get(id)]));
      ids.sort((a, b) => key.get(a) - key.get(b));
      ids.forEach((id, i) => order.set(id, i));
    }
  }
  const tallest = Math.max(1, ...columns.map((ids) => (ids ? ids.length : 0)));
  const positions = new Map();
  let x = PAD;
  columns.forEach((ids, c) => {
    if (!ids) return;
    const width = Math.max(...ids.map((id) => SIZE[nodes.get(id).kind].w));
    const offset = ((tallest - ids.length) * ROW_PX) / 2;
    ids.forEach((id, i) => {
      const size = SIZE[nodes.get(id).kind];
      positions.set(id, {x: x + (width - size.w) / 2, y: PAD + offset + i * ROW_PX + (SIZE.dataset.h - size.h) / 2,
        column: c, ...size});
    });
    x += width + GAP_PX;
  });
  return {positions, width: x - GAP_PX + PAD, height: PAD * 2 + tallest * ROW_PX};
}

function clip(text, chars) {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/** The SVG of the Flow; onSelect(node) on a click or Enter on a node. */
export function drawFlow(graph, selected, onSelect) {
  const {positions, width, height} = layout(graph);
  const svg = s("svg", {class: "flow", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "The Flow: datasets and recipes"},
  s("defs", {}, s("marker", {id: "arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 7, markerHeight: 7,
    orient: "auto"}, s("path", {d: "M0,0 L8,4 L0,8 z"}))));
  for (const [a, b] of graph.edges) {
    const p = positions.get(a);
    const q = positions.get(b);
    const x1 = p.x + p.w;
    const y1 = p.y + p.h / 2;
    const x2 = q.x;
    const y2 = q.y + q.h / 2;
    const bend = (x2 - x1) / 2;
    svg.append(s("path", {class: "edge", d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      "marker-end": "url(#arrow)"}));
  }
  for (const node of graph.nodes.values()) {
    const {x, y, w, h} = positions.get(node.id);
    const virtual = node.kind === "dataset" && node.item.virtual;
    const classes = ["node", node.kind, virtual ? "virtual" : "", node.id === selected ? "selected" : ""];
    const recipe = node.kind === "recipe";
    const g = s("g", {class: classes.join(" "), transform: `translate(${x},${y})`, tabindex: 0, role: "button",
      "data-node": node.id, "aria-label": `${node.kind} ${node.name}`,
      onclick: () => onSelect(node),
      onkeydown: (event) => event.key === "Enter" && onSelect(node)},
    s("title", {}, recipe ? `${node.item.type} recipe ${node.name}` : `dataset ${node.name}`),
    s("rect", {width: w, height: h, rx: recipe ? h / 2 : 4}),
    s("text", {x: w / 2, y: h / 2 + 4, "text-anchor": "middle"}, recipe ? node.item.type : clip(node.name, 20)),
    recipe ? s("text", {class: "under", x: w / 2, y: h + 12, "text-anchor": "middle"}, clip(node.name, 22)) : null);
    svg.append(g);
  }
  // Fit the width when it can be read (down to 70 %), scroll beyond.
  svg.style.width = "100%";
  svg.style.maxWidth = `${width}px`;
  svg.style.minWidth = `${Math.round(width * 0.7)}px`;
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  return svg;
}
