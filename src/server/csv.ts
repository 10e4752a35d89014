/**
 * CSV as spreadsheets read it (RFC 4180): cells with a quote, comma or line break are quoted. A
 * text cell that a spreadsheet would run as a formula (it starts with =, +, -, @, tab or carriage
 * return: OWASP's "CSV injection") gets a leading `'`, so an uploaded string like
 * `=HYPERLINK(...)` stays text; quoting alone does not stop Excel or LibreOffice running it.
 * Numbers are data and are written as they are (-3 is minus three, not a formula).
 */
export const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const toCsv = (head: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string =>
  [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
