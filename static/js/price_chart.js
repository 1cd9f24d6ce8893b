// The Energy page's price chart (Chart.js, vendored): one step per price slot from today's
// midnight to the last published slot (tomorrow's too once published), the slot in force
// filled, a "now" line, and horizontal break-even lines (the fleet's, dashed, and each
// miner's) in the same unit as the prices. The x axis and the scale colours are the fleet
// charts' (time_chart.js: epoch seconds, no date adapter is vendored); the rest differs too much
// (stepped slots, markers, a tooltip for the slot) for its timeChart().

import { themeScales, timeAxis } from "./time_chart.js";
import { $, cssVar, isNum, nowS } from "./util.js";

// Miners' break-even lines: distinct hues, drawn thin under the fleet's.
const MINER_COLOURS = ["#0e7490", "#6d28d9", "#4d7c0f", "#a21caf", "#854d0e", "#0369a1", "#be123c", "#475569"];

const pc = { chart: null, digits: 2, unit: "", lines: [], markers: { now: null, midnight: null } };

const timeOf = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const fmtPrice = (v) => (isNum(v) ? `${v.toFixed(pc.digits)} ${pc.unit}`.trim() : "—");

// Vertical markers: "now" and the midnight where tomorrow's prices start.
const markerPlugin = {
  id: "priceMarkers",
  afterDatasetsDraw(chart) {
    const { ctx, chartArea: area, scales: { x } } = chart;
    const draw = (t, colour, label, dash) => {
      if (!isNum(t) || t < x.min || t > x.max) return;
      const px = x.getPixelForValue(t);
      ctx.save();
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.setLineDash(dash);
      ctx.beginPath();
      ctx.moveTo(px, area.top);
      ctx.lineTo(px, area.bottom);
      ctx.stroke();
      ctx.font = "600 11px system-ui, sans-serif";
      ctx.textAlign = px > area.right - 60 ? "right" : "left";
      ctx.fillText(label, px + (ctx.textAlign === "left" ? 4 : -4), area.top + 11);
      ctx.restore();
    };
    draw(pc.markers.midnight, cssVar("--muted"), "tomorrow", [2, 3]);
    draw(pc.markers.now, cssVar("--c-now"), "now", [5, 3]);
  },
};

function tooltipLabel(item) {
  const raw = item.raw || {};
  if (raw.slot) return `${timeOf(raw.slot.start)}–${timeOf(raw.slot.end)}: ${fmtPrice(raw.slot.price)}`;
  return `${item.dataset.label}: ${fmtPrice(item.parsed.y)}`;
}

// "Fleet break-even 8.90 p/kWh: loses" and how many miners still pay at the slot's price.
function tooltipVerdict(items) {
  const price = items[0]?.raw?.slot?.price;
  if (!isNum(price)) return [];
  const out = [];
  const fleet = pc.lines.find((l) => l.fleet && isNum(l.value));
  if (fleet) out.push(`Fleet break-even ${fmtPrice(fleet.value)}: ${price < fleet.value ? "pays" : "loses"}`);
  const miners = pc.lines.filter((l) => !l.fleet && isNum(l.value));
  if (miners.length) out.push(`${miners.filter((l) => price < l.value).length} of ${miners.length} miners pay at this price`);
  return out;
}

/** Create the chart on #price-chart; false when Chart.js is missing. */
export function initPriceChart() {
  if (!window.Chart) return false;
  pc.chart = new window.Chart($("price-chart"), {
    type: "line",
    data: { datasets: [] },
    plugins: [markerPlugin],
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: timeAxis(),
        y: { type: "linear", grace: "5%", grid: {}, ticks: { callback: (v) => Number(v.toFixed(4)) },
          title: { display: true, text: "" } },
      },
      plugins: {
        legend: { display: false }, // the toggles above the chart are the legend
        tooltip: {
          // The slot under the cursor, and what its price means against the break-even lines.
          filter: (item) => item.dataset.label === "Price",
          callbacks: { title: () => "", label: tooltipLabel, afterBody: tooltipVerdict },
        },
      },
    },
  });
  applyTheme();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => applyTheme(true));
  return true;
}

function applyTheme(redraw = false) {
  const chart = pc.chart;
  if (!chart) return;
  themeScales(chart);
  for (const ds of chart.data.datasets) {
    const colour = ds.colourVar ? cssVar(ds.colourVar) : ds.colour;
    ds.borderColor = colour;
    ds.backgroundColor = ds.fillAlpha ? `color-mix(in srgb, ${colour} ${ds.fillAlpha}%, transparent)` : colour;
  }
  if (redraw) chart.update("none");
}

// Two points per slot (start and end at its price), a null between slots that do not touch:
// the line is flat over each slot and steps at the boundaries, whatever Chart.js's stepping.
function slotPoints(slots) {
  const out = [];
  let prevEnd = null;
  for (const s of slots) {
    if (prevEnd !== null && s.start > prevEnd) out.push({ x: (prevEnd + s.start) / 2, y: null });
    out.push({ x: s.start, y: s.price, slot: s }, { x: s.end, y: s.price, slot: s });
    prevEnd = s.end;
  }
  return out;
}

/**
 * Draw: slots ({start, end, price} epoch s, price in `unit`), the day's [start, end), `lines`
 * ([{label, value, fleet}] in `unit`), which lines show, and whether the prices are stale.
 */
export function renderPriceChart({ slots, dayStart, dayEnd, unit, digits, lines, showFleet, showMiners, stale }) {
  const chart = pc.chart;
  if (!chart) return;
  pc.unit = unit || "";
  pc.digits = digits;
  pc.lines = lines;
  const now = nowS();
  const shown = slots.filter((s) => s.end > dayStart);
  const xMin = dayStart;
  const xMax = Math.max(dayEnd, ...shown.map((s) => s.end));
  const current = shown.find((s) => s.start <= now && now < s.end);
  const datasets = [{
    label: "Price", data: slotPoints(shown), colourVar: "--c-price", borderWidth: 2, pointRadius: 0,
    borderDash: stale ? [4, 4] : [], spanGaps: false, order: 1,
  }];
  if (current && !stale) {
    datasets.push({ label: "Now", data: slotPoints([current]), colourVar: "--c-now", borderWidth: 4, pointRadius: 0,
      fill: "origin", fillAlpha: 18, order: 0 });
  }
  let i = 0;
  for (const line of lines) {
    if (!isNum(line.value) || (line.fleet ? !showFleet : !showMiners)) continue;
    const colour = line.fleet ? null : MINER_COLOURS[i++ % MINER_COLOURS.length];
    datasets.push({
      label: line.label, isLine: true, fleet: !!line.fleet, data: [{ x: xMin, y: line.value }, { x: xMax, y: line.value }],
      colourVar: line.fleet ? "--c-fleet-be" : null, colour, borderWidth: line.fleet ? 2.5 : 1.25,
      borderDash: line.fleet ? [8, 4] : [], pointRadius: 0, pointHitRadius: 0, order: line.fleet ? 2 : 3,
    });
  }
  chart.data.datasets = datasets;
  chart.options.scales.x.min = xMin;
  chart.options.scales.x.max = xMax;
  chart.options.scales.y.title.text = unit || "";
  chart.options.scales.y.ticks.callback = (v) => Number(v.toFixed(Math.max(digits, 2)));
  pc.markers.now = now;
  pc.markers.midnight = shown.some((s) => s.end > dayEnd) ? dayEnd : null;
  applyTheme();
  chart.update("none");
}

/** What the chart holds now (for tests and the page's empty state). */
export function chartSummary() {
  const chart = pc.chart;
  if (!chart) return null;
  return chart.data.datasets.map((d) => ({ label: d.label, points: d.data.length }));
}
