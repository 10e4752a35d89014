/**
 * CSV as spreadsheets read it (RFC 4180): cells with a quote, comma or line break are quoted, and
 * a cell that a spreadsheet would run as a formula (=, +, -, @, tab) is quoted too, so an uploaded
 * string like `=HYPERLINK(...)` stays text.
 */
export const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) || /^[=+\-@\t]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const toCsv = (head: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string => [head, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
