/**
 * The work/break model's vocabulary: the input categories and session events it reads, its
 * thresholds, and the records it writes (their typed fields from protocol/v1.ts).
 */
import type { ActivityFields, Narrow, Present } from '../../protocol/v1.js';

export type InputCategory = 'keyboard' | 'button' | 'wheel' | 'move' | 'unknown';
export type SessionEventKind = 'lock' | 'unlock' | 'suspend' | 'resume' | 'session-end';
export type BreakType = 'microbreak' | 'short' | 'extended';
export type PeriodType = 'uninterrupted' | 'extended';
/** Why a break or period ended. */
export type EndReason = 'input' | 'break' | 'lock' | 'suspend' | 'session-end';

export interface ActivityThresholds {
  /** A gap of at least this many seconds without input is a break (default 5). */
  breakSeconds: number;
  /** Breaks shorter than this are microbreaks (default 60). */
  microBreakMaxSeconds: number;
  /** Breaks shorter than this (and >= microBreakMaxSeconds) are short breaks; longer are extended (default 600). */
  shortBreakMaxSeconds: number;
  /** Length of an input-events interval (default 60). */
  inputEventIntervalSeconds: number;
}

export const DEFAULT_THRESHOLDS: ActivityThresholds = {
  breakSeconds: 5,
  microBreakMaxSeconds: 60,
  shortBreakMaxSeconds: 600,
  inputEventIntervalSeconds: 60,
};

/** A point in time as both clocks saw it. */
export interface Instant {
  /** Monotonic milliseconds. */
  t: number;
  /** Wall clock, epoch milliseconds. */
  wall: number;
}

/**
 * The protocol's typed activity fields (protocol/v1.ts) the records below write, each present;
 * the records' other fields (endReason, applications, mouseButtons, ...) are stored as they are.
 */
type Wire<K extends keyof ActivityFields> = Present<Pick<ActivityFields, K>>;

/** `mouse`: buttons + wheel + movement; `switch`: changes between keyboard and mouse without a break in between. */
export interface InputCounts extends Narrow<Wire<'keyboard' | 'mouse' | 'switch'>, { keyboard: number; mouse: number; switch: number }> {}

export interface ApplicationCounts extends InputCounts {
  application: string | null;
}

/** `application`: the one that had the focus when the break began (the one the user paused in). */
export interface BreakRecord
  extends Narrow<
    Wire<'start' | 'end' | 'durationSeconds' | 'breakType' | 'application'>,
    { start: string; end: string; durationSeconds: number; breakType: BreakType }
  > {
  type: 'break';
  time: string;
  endReason: EndReason;
}

/** `application`: the one that received the most input during the period. */
export interface WorkRecord
  extends InputCounts,
    Narrow<
      Wire<'start' | 'end' | 'durationSeconds' | 'periodType' | 'application'>,
      { start: string; end: string; durationSeconds: number; periodType: PeriodType }
    > {
  type: 'work';
  time: string;
  /** Per-application counts, most used first. */
  applications: ApplicationCounts[];
  endReason: EndReason;
}

export interface InputEventsRecord
  extends InputCounts,
    Narrow<Wire<'start' | 'end' | 'durationSeconds' | 'application'>, { start: string; end: string; durationSeconds: number }> {
  type: 'input-events';
  time: string;
  mouseButtons: number;
  mouseWheel: number;
  mouseMoves: number;
}

export type ActivityRecord = BreakRecord | WorkRecord | InputEventsRecord;
