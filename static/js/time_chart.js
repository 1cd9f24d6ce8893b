// One Chart.js set-up for the line charts over time: the overview's fleet and power charts and
// the miner detail's history and temperature charts (the Energy page's price chart takes the
// time axis and the scale colours). x is epoch seconds with ticks on round local times
// (util.js timeTicks/fmtTick: no date adapter is vendored); value axes come from a small spec;
// the tooltip names the moment; colours are CSS variables, so the light and dark schemes live in
// the stylesheet only; and a chart that cannot be drawn says so in its empty note.

import { cssVar, fmtTick, isNum, nowS, timeTicks } from "./util.js";

const PHONE_PX = 600; // below this chart width an axis marked phone: false keeps its line, not its axis

/** The shared x axis: epoch seconds, ticks on round local times. */
export function timeAxis() {
  return { type: "linear", afterBuildTicks: timeTicks, grid: {}, ticks: { includeBounds: false, maxRotation: 0,
    autoSkipPadding: 12, callback(v) { return fmtTick(v, this.max - this.min); } } }; // `this` is the scale
}

// A value axis from its spec: {position, fmt, zero (begin at 0, default yes), grace, min, max, title, display}.
// A right-hand axis draws no grid lines over the chart and hides itself when none of its lines shows.
function valueAxis({ position = "left", fmt, zero = true, grace, min, max, title, display }) {
  const right = position === "right";
  const axis = { type: "linear", position, beginAtZero: zero, display: display ?? (right ? "auto" : true),
    grid: right ? { drawOnChartArea: false } : {}, ticks: { callback: fmt } };
  if (grace !== undefined) axis.grace = grace;
  if (min !== undefined) axis.min = min;
  if (max !== undefined) axis.max = max;
  if (title !== undefined) axis.title = { display: true, text: title };
  return axis;
}

/** Tick, grid and title colours of every scale from the stylesheet (no redraw). */
export function themeScales(chart) {
  const muted = cssVar("--muted"), grid = cssVar("--grid");
  for (const scale of Object.values(chart.options.scales)) {
    scale.ticks.color = muted;
    scale.grid.color = grid;
    if (scale.title) scale.title.color = muted;
  }
}

const tooltipTime = (items) => (items.length ? new Date(items[0].parsed.x * 1000).toLocaleString() : "");
const tooltipValue = (item) => `${item.dataset.label}: ${item.dataset.fmt(item.parsed.y)}`;

/**
 * A line chart over time on `canvas`, or null (and "Chart unavailable." in `empty`) without Chart.js.
 *
 * series: [{key, label, axis (an id of axes), colour (a CSS variable), fmt (tooltip value), dash, hidden, ...}];
 * the extra keys stay on the dataset for the caller. axes: {id: spec}, a spec with phone: false loses
 * its axis on a narrow chart (three value axes do not fit a phone). legend: Chart.js's own legend
 * (false where toggles above the chart are the legend); swatches: the element holding those toggles'
 * .swatch[data-colour]; interaction and label (the tooltip's line) replace the defaults.
 */
export function timeChart(canvas, { series, axes, legend = false, empty = null, swatches = null,
  interaction = { mode: "index", intersect: false }, label = tooltipValue }) {
  if (!window.Chart) {
    if (empty) { empty.textContent = "Chart unavailable."; empty.hidden = false; }
    return null;
  }
  const scales = { x: timeAxis() };
  for (const [id, spec] of Object.entries(axes)) scales[id] = valueAxis(spec);
  const phoneHidden = Object.keys(axes).filter((id) => axes[id].phone === false);
  const fitWidth = (c, size) => {
    for (const id of phoneHidden) c.options.scales[id].display = size.width >= PHONE_PX ? "auto" : false;
  };
  const chart = new window.Chart(canvas, {
    type: "line",
    data: { datasets: series.map(({ axis, dash, hidden, ...s }) => ({ ...s, yAxisID: axis, data: [], hidden: !!hidden,
      borderWidth: 2, tension: 0.2, spanGaps: false, borderDash: dash || [],
      // dots only while there are few points, or a new install's first minutes stay invisible
      pointRadius: (ctx) => (ctx.dataset.data.length < 40 ? 2 : 0) })) },
    options: {
      animation: false, // the Pi serves many clients; also keeps redraws cheap on phones
      maintainAspectRatio: false,
      onResize: fitWidth,
      interaction,
      scales,
      plugins: {
        legend: { display: legend, labels: { boxWidth: 12, filter: (item, data) => !data.datasets[item.datasetIndex].hidden } },
        tooltip: { callbacks: { title: tooltipTime, label } },
      },
    },
  });
  fitWidth(chart, { width: chart.width });

  const theme = () => {
    for (const ds of chart.data.datasets) if (ds.colour) ds.borderColor = ds.backgroundColor = cssVar(ds.colour);
    themeScales(chart);
    chart.options.plugins.legend.labels.color = cssVar("--muted");
    if (swatches) for (const box of swatches.querySelectorAll(".swatch[data-colour]")) box.style.background = cssVar(box.dataset.colour);
    chart.update("none");
  };
  theme();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", theme);

  return {
    chart,
    /** Every dataset from a history answer {ts: [...], series: {key: [...]}} (a missing value is a gap); returns ts. */
    fill(answer) {
      const ts = Array.isArray(answer?.ts) ? answer.ts : [];
      const values = answer?.series || {};
      for (const ds of chart.data.datasets) {
        const ys = Array.isArray(values[ds.key]) ? values[ds.key] : [];
        ds.data = ts.map((x, i) => ({ x, y: isNum(ys[i]) ? ys[i] : null }));
      }
      return ts;
    },
    /** Show spanS seconds up to now (or the newest x), Infinity: from the oldest x; the empty note shows without xs. */
    show(spanS, xs) {
      const last = Math.max(nowS(), ...xs);
      chart.options.scales.x.max = last;
      chart.options.scales.x.min = Number.isFinite(spanS) ? last - spanS : (xs.length ? Math.min(...xs) : last - 3600);
      if (empty) empty.hidden = xs.length > 0;
      chart.update("none");
    },
  };
}

/**
 * A group of range buttons rendered from services/chart_range.py (templates/panels/_chart.html):
 * data-ranges holds {name: seconds, "all": null}. onPick(name) runs on a click of one of them.
 * Returns {spans: {name: seconds, all: Infinity}, initial: the range pressed first, mark(name)}.
 */
export function rangeButtons(box, onPick) {
  const spans = {};
  for (const [name, s] of Object.entries(JSON.parse(box.dataset.ranges || "{}"))) spans[name] = isNum(s) ? s : Infinity;
  const pressed = box.querySelector('button[aria-pressed="true"]')?.dataset.range;
  box.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-range]");
    if (b && b.dataset.range in spans) onPick(b.dataset.range);
  });
  const mark = (name) => {
    for (const b of box.querySelectorAll("button[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === name));
  };
  return { spans, initial: pressed in spans ? pressed : Object.keys(spans)[0], mark };
}
