/**
 * Event selections of shared/reference/000 ("Selecting events for reporting"), as named presets
 * every usage-event query and report takes (`ReportFilters.selection`).
 */

export const EVENT_SELECTIONS = {
  /** License allocation: obtain/return and license issued/revoked. */
  'license-allocation': [1, 2, 27, 28],
  /** License usage within allocation: obtain/return and license start/stop. */
  'usage-within-allocation': [1, 2, 29, 30],
  /** All license usage, which may exceed the allocation: the above and the offline launch/quit of licensed programs. */
  'all-license-usage': [1, 2, 29, 30, 10, 11],
  /** Controlled program usage: launch/quit online and offline. */
  'controlled-program-usage': [3, 4, 10, 11],
  /** All program usage: controlled and logged, online and offline. */
  'all-program-usage': [3, 4, 8, 9, 10, 11, 12, 13],
} as const satisfies Record<string, readonly number[]>;

export type SelectionName = keyof typeof EVENT_SELECTIONS;
export const SELECTION_NAMES = Object.keys(EVENT_SELECTIONS) as SelectionName[];

/** The codes that end something (return, quit, dequeue, revoke, stop): "end events only" keeps these of a selection. */
export const END_CODES: ReadonlySet<number> = new Set([2, 4, 6, 9, 11, 13, 16, 28, 30]);

export interface EventSelection {
  name: SelectionName;
  /** Keep only the selection's end events (a return but not its obtain). */
  endOnly?: boolean;
}

/** The event codes of a selection, ascending. */
export function selectionCodes(s: EventSelection): number[] {
  const codes = EVENT_SELECTIONS[s.name] as readonly number[];
  return [...codes].filter((c) => !s.endOnly || END_CODES.has(c)).sort((a, b) => a - b);
}

/** Parse `name` or `name:end` (the form used in URLs and the CLI); a clear error names the choices. */
export function parseSelection(text: string): EventSelection {
  const [name, flag, ...rest] = text.split(':');
  if (!(SELECTION_NAMES as string[]).includes(name) || rest.length > 0 || (flag !== undefined && flag !== 'end')) {
    throw new RangeError(`selection must be one of ${SELECTION_NAMES.join(', ')}, optionally followed by :end (got ${text})`);
  }
  return { name: name as SelectionName, endOnly: flag === 'end' };
}
