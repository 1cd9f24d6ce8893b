// CSV export of the Miners table: the rows shown (after the filters, in their sort order) and the
// columns chosen, numbers unformatted in base units named in the header. RFC 4180 quoting
// (a field with a comma, quote or line break is quoted, quotes doubled), CRLF line ends and a
// UTF-8 byte-order mark so spreadsheet programs read the degree signs and names right.

import { isNum } from "./util.js";

// A miner names itself (hostname, model, pool user): text starting like a formula would run as
// one in a spreadsheet ("CSV injection"), so it gets a leading apostrophe. Numbers are left alone.
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field: numbers as they are, text quoted when it must be. */
export function csvField(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return isNum(value) ? String(value) : "";
  if (typeof value === "boolean") return value ? "true" : "false";
  let text = String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV text for miners (in order) under columns (each with csv: [[header, value(m)]]). */
export function toCsv(miners, columns) {
  const parts = columns.flatMap((c) => c.csv);
  const lines = [parts.map(([header]) => csvField(header)).join(",")];
  for (const m of miners) lines.push(parts.map(([, value]) => csvField(value(m))).join(","));
  return `\ufeff${lines.join("\r\n")}\r\n`;
}

/** Let the browser save text as a file (a Blob and a temporary object URL; nothing goes to the server). */
export function download(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** miners-2026-12-07-2130.csv: the local date and time of the export. */
export function csvFilename(now = new Date()) {
  const p = (n) => String(n).padStart(2, "0");
  return `miners-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}.csv`;
}
