/** The console's one stylesheet, served from memory at /assets/console.css (no CDN, no fonts to fetch). */
export const CONSOLE_CSS = `
:root { --fg: #1d2430; --muted: #5b6575; --line: #d5dae2; --accent: #2f5fb3; --bad: #a32020; --ok: #1f6f3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 12px 20px; padding: 8px 16px; border-bottom: 1px solid var(--line); background: #f5f7fa; }
.brand { font-weight: 700; }
nav { display: flex; flex-wrap: wrap; gap: 4px 12px; flex: 1; }
nav a { color: var(--accent); text-decoration: none; padding: 2px 0; }
nav a[aria-current="page"] { font-weight: 700; border-bottom: 2px solid var(--accent); }
form.signout { display: flex; gap: 8px; align-items: center; margin: 0; }
.who { color: var(--muted); }
main { padding: 12px 16px 32px; max-width: 1400px; }
h1 { font-size: 20px; margin: 8px 0 12px; }
h2 { font-size: 16px; margin: 20px 0 4px; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; padding: 8px; border: 1px solid var(--line); background: #fafbfc; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; }
button { cursor: pointer; }
.applied, .note, .downloads { color: var(--muted); margin: 4px 0; }
.notice { color: var(--ok); font-weight: 600; }
.error { color: var(--bad); font-weight: 600; }
figure.chart { margin: 12px 0; }
figure.chart figcaption { font-weight: 600; }
figure.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f3f7; font-weight: 600; }
td.int, td.number, td.hours, td.seconds, td.bytes, th.int, th.number, th.hours, th.seconds, th.bytes { text-align: right; font-variant-numeric: tabular-nums; }
td.actions form { display: inline-flex; gap: 4px; margin: 0 4px 0 0; }
td.actions input[type=number] { width: 5em; }
form.signin { display: flex; flex-direction: column; gap: 10px; max-width: 360px; }
@media print {
  header.top nav, form.signout, form.filters button, td.actions, th.actions, .downloads { display: none; }
  form.filters { border: 0; padding: 0; }
  form.filters input, form.filters select { border: 0; }
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  section.table, figure.chart { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;
