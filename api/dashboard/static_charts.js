// Small SVG charts for the dashboard: no 4.8 MB Plotly parse before the first paint.
const SVGNS = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function niceTicks(lo, hi, n, cover) {
  // Round steps (1, 2, 5 x 10^k); with `cover` the last tick reaches at least `hi`.
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0);
  const end = cover ? Math.ceil(hi / step - 1e-9) * step : hi;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= end + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}
function frame(host, title, opts) {
  host.innerHTML = "";
  const w = host.clientWidth || 600, h = opts.height || 320, m = {l: 56, r: opts.right || 16, t: 48, b: 42};
  const svg = el("svg", {width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title});
  svg.appendChild(el("text", {x: m.l, y: 20, "font-size": 14, "font-weight": 600, fill: "#1d2733"}, title));
  host.appendChild(svg);
  return {svg, w, h, m, iw: w - m.l - m.r, ih: h - m.t - m.b};
}
function axes(f, xs, ys, xlab, ylab) {
  const {svg, m, iw, ih} = f;
  for (const y of ys.ticks) {
    const py = m.t + ih - (y - ys.lo) / (ys.hi - ys.lo) * ih;
    svg.appendChild(el("line", {x1: m.l, x2: m.l + iw, y1: py, y2: py, stroke: "#e6ebf0"}));
    svg.appendChild(el("text", {x: m.l - 6, y: py + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7785"}, ys.fmt(y)));
  }
  for (const [x, label] of xs.ticks) {
    svg.appendChild(el("text", {x, y: m.t + ih + 16, "text-anchor": "middle", "font-size": 11, fill: "#6b7785"}, label));
  }
  svg.appendChild(el("text", {x: m.l + iw / 2, y: f.h - 6, "text-anchor": "middle", "font-size": 11, fill: "#6b7785"}, xlab));
  svg.appendChild(el("text", {x: 12, y: m.t + ih / 2, "font-size": 11, fill: "#6b7785", transform: `rotate(-90 12 ${m.t + ih / 2})`, "text-anchor": "middle"}, ylab));
}
function legend(f, items) {
  let x = f.m.l;
  for (const [label, colour, shape] of items) {
    f.svg.appendChild(shape === "square" ? el("rect", {x, y: 27, width: 10, height: 10, fill: colour})
      : el("circle", {cx: x + 5, cy: 32, r: 5, fill: colour}));
    f.svg.appendChild(el("text", {x: x + 14, y: 36, "font-size": 11, fill: "#1d2733"}, label));
    x += 20 + 7 * label.length;
  }
}
// Scatter of points {x, y, r, colour, shape, label} on an equal-distance lon/lat frame.
function mapChart(host, title, points) {
  const f = frame(host, title, {height: 420});
  if (!points.length) return;
  const lons = points.map(p => p.x), lats = points.map(p => p.y);
  let x0 = Math.min(...lons) - 0.5, x1 = Math.max(...lons) + 0.5, y0 = Math.min(...lats) - 0.5, y1 = Math.max(...lats) + 0.5;
  const k = Math.cos((y0 + y1) / 2 * Math.PI / 180);  // a degree of longitude is shorter
  const scale = Math.min(f.iw / ((x1 - x0) * k), f.ih / (y1 - y0));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  x0 = cx - f.iw / scale / k / 2; x1 = cx + f.iw / scale / k / 2; y0 = cy - f.ih / scale / 2; y1 = cy + f.ih / scale / 2;
  const X = x => f.m.l + (x - x0) / (x1 - x0) * f.iw, Y = y => f.m.t + f.ih - (y - y0) / (y1 - y0) * f.ih;
  axes(f, {ticks: niceTicks(x0, x1, 6).map(v => [X(v), v + "°"])}, {lo: y0, hi: y1, ticks: niceTicks(y0, y1, 5), fmt: v => v + "°"}, "longitude", "latitude");
  const g = el("g", {class: "points"});
  for (const p of points) {
    const node = p.shape === "square"
      ? el("rect", {x: X(p.x) - p.r, y: Y(p.y) - p.r, width: 2 * p.r, height: 2 * p.r, fill: p.colour, stroke: "#10243a", "fill-opacity": 0.85, class: "point"})
      : el("circle", {cx: X(p.x), cy: Y(p.y), r: p.r, fill: p.colour, stroke: "#10243a", "fill-opacity": 0.85, class: "point"});
    node.appendChild(el("title", {}, p.label));
    g.appendChild(node);
  }
  f.svg.appendChild(g);
}
// Stacked bars: categories x, series [{name, colour, values}].
function stackedBars(host, title, x, series, ylab) {
  const f = frame(host, title, {});
  legend(f, series.map(s => [s.name, s.colour, "square"]));
  const totals = x.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  const hi = Math.max(1, ...totals), ticks = niceTicks(0, hi, 5, true), top = ticks[ticks.length - 1];
  const bw = f.iw / Math.max(1, x.length), Y = v => f.m.t + f.ih - v / top * f.ih;
  axes(f, {ticks: x.map((d, i) => [f.m.l + bw * (i + 0.5), d])}, {lo: 0, hi: top, ticks, fmt: v => v.toLocaleString()}, "day", ylab);
  const g = el("g", {class: "bars"});
  x.forEach((d, i) => {
    let base = 0;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (!v) continue;
      const r = el("rect", {x: f.m.l + bw * i + bw * 0.15, width: bw * 0.7, y: Y(base + v), height: Y(base) - Y(base + v), fill: s.colour, class: "bar"});
      r.appendChild(el("title", {}, `${d} ${s.name}: ${v}`));
      g.appendChild(r);
      base += v;
    }
  });
  f.svg.appendChild(g);
}
// Lines: categories x, series [{name, colour, values}] on one y axis.
function lineChart(host, title, x, series, ylab) {
  const f = frame(host, title, {});
  legend(f, series.map(s => [s.name, s.colour, "circle"]));
  const all = series.flatMap(s => s.values.filter(v => v !== null));
  const hi = Math.max(1, ...all), ticks = niceTicks(0, hi, 5, true), top = ticks[ticks.length - 1];
  const step = f.iw / Math.max(1, x.length), X = i => f.m.l + step * (i + 0.5), Y = v => f.m.t + f.ih - v / top * f.ih;
  axes(f, {ticks: x.map((d, i) => [X(i), d])}, {lo: 0, hi: top, ticks, fmt: v => v.toLocaleString()}, "day", ylab);
  for (const s of series) {
    const pts = s.values.map((v, i) => v === null ? null : [X(i), Y(v)]).filter(Boolean);
    if (pts.length > 1) f.svg.appendChild(el("polyline", {points: pts.map(p => p.join(",")).join(" "), fill: "none", stroke: s.colour, "stroke-width": 2}));
    for (const [px, py] of pts) f.svg.appendChild(el("circle", {cx: px, cy: py, r: 3.5, fill: s.colour, class: "marker"}));
  }
}
