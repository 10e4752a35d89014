import type { InputBatch, InputCategory } from './model.js';

/**
 * Accumulates hook events between model updates: the hook callback does O(1) work and allocates
 * nothing (a few number fields are updated), and the model receives one batch per window instead of
 * every mouse move. Only what the model needs survives: the first and last time, per-category
 * counts and the keyboard<->mouse switches, all exact; the batch never spans `windowMs` or more, and
 * the window is kept below breakSeconds, so no break can hide inside a batch.
 *
 * Pure: times are passed in; the caller decides when to flush (before any other model call, when a
 * new input falls outside the window, and from a trailing timer).
 */
export class InputCoalescer {
  /** The batch being filled; handed to the sink by flush() and then reset (reused, not reallocated). */
  readonly batch: InputBatch = { events: 0, firstCategory: 'unknown', lastCategory: 'unknown', keyboard: 0, buttons: 0, wheel: 0, moves: 0, switches: 0 };
  first = 0;
  last = 0;
  private lastIsKeyboard = false;

  constructor(
    readonly windowMs: number,
    private readonly sink: (firstT: number, lastT: number, batch: InputBatch) => void,
  ) {
    if (!(windowMs > 0)) throw new Error('coalescing window must be positive');
  }

  /** The window for a given break threshold: at most 100 ms and always under half of it. */
  static windowFor(breakSeconds: number): number {
    return Math.min(100, (breakSeconds * 1000) / 2);
  }

  get pending(): boolean {
    return this.batch.events > 0;
  }

  /** One hook event (never 'unknown': idle polling goes to the model directly). Returns true when it started a new batch. */
  add(category: InputCategory, t: number): boolean {
    const b = this.batch;
    if (b.events > 0 && t - this.first >= this.windowMs) this.flush();
    const isKeyboard = category === 'keyboard';
    let started = false;
    if (b.events === 0) {
      this.first = t;
      b.firstCategory = category;
      started = true;
    } else if (isKeyboard !== this.lastIsKeyboard) {
      b.switches += 1;
    }
    this.lastIsKeyboard = isKeyboard;
    b.events += 1;
    b.lastCategory = category;
    if (t > this.last || b.events === 1) this.last = t;
    switch (category) {
      case 'keyboard':
        b.keyboard += 1;
        break;
      case 'button':
        b.buttons += 1;
        break;
      case 'wheel':
        b.wheel += 1;
        break;
      case 'move':
        b.moves += 1;
        break;
      default:
        break;
    }
    return started;
  }

  /** Hands the pending batch to the sink (if any) and resets it. */
  flush(): void {
    const b = this.batch;
    if (b.events === 0) return;
    this.sink(this.first, this.last, b);
    b.events = b.keyboard = b.buttons = b.wheel = b.moves = b.switches = 0;
  }
}
