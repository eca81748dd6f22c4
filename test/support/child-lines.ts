import type { ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';

/**
 * Child processes that report to their parent in JSON lines on stdout: one object per line, each with a `kind`.
 *
 * The child writes each line with a blocking write before it goes on, so a line that reached the parent is a fact
 * even when the child is SIGKILLed right after writing it. The parent reads the lines as they arrive through a
 * LineChild. This file is loaded by plain child processes too, so it must not import vitest.
 */

const pauseCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the whole process (timers and I/O included) for `ms` milliseconds. */
export function blockFor(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

/** Child side: writes one JSON line to stdout and returns only once it is in the pipe. */
export function writeLineSync(line: object): void {
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
  let written = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(1, bytes, written, bytes.length - written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      blockFor(1);
    }
  }
}

/** How a child ended, with everything it reported. */
export interface ChildEnd<Line> {
  lines: Line[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The parent SIGKILLed the child because it was still running at its limit. */
  overran: boolean;
}

/**
 * Parent side: one child process, its JSON lines as they arrive, and its end. Stopped only through its own handle
 * (its PID).
 */
export class LineChild<Line extends { kind: string }> {
  readonly lines: Line[] = [];
  stderr = '';
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pending = '';
  private readonly waiters: Array<() => void> = [];
  private readonly listeners: Array<(line: Line) => void> = [];

  /** `registry` holds the children still running, so a test can stop them all in its teardown. */
  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    registry: Set<LineChild<{ kind: string }>>,
  ) {
    registry.add(this as unknown as LineChild<{ kind: string }>);
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.pending += chunk;
      let end: number;
      while ((end = this.pending.indexOf('\n')) !== -1) {
        const text = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 1);
        const line = JSON.parse(text) as Line;
        this.lines.push(line);
        for (const listener of this.listeners) listener(line);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.closed = new Promise((resolve, reject) => {
      process.once('error', reject);
      process.once('close', (code, signal) => {
        registry.delete(this as unknown as LineChild<{ kind: string }>);
        for (const wake of this.waiters.splice(0)) wake();
        // A killed child may leave half a line behind: it reported nothing, since the write never completed.
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Calls `listener` with every line read from now on, as soon as it is read. */
  onLine(listener: (line: Line) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Resolves once the child has ended and its output is read. A child still running `limitMs` from now is SIGKILLed
   * and reported as overran. `onLine` sees every line read from now on, and may lift that limit with `limit.cancel()`.
   */
  async endWithin(limitMs: number, onLine?: (line: Line, limit: { cancel(): void }) => void): Promise<ChildEnd<Line>> {
    let overran = false;
    const guard = setTimeout(() => {
      overran = true;
      this.kill();
    }, limitMs);
    const limit = { cancel: () => clearTimeout(guard) };
    if (onLine) this.onLine((line) => onLine(line, limit));
    try {
      const { code, signal } = await this.closed;
      return { lines: this.lines, code, signal, stderr: this.stderr, overran };
    } finally {
      clearTimeout(guard);
    }
  }

  /** Resolves the first line of `kind`, or null when the child ends or the time runs out first. */
  async waitFor(kind: Line['kind'], limitMs: number): Promise<Line | null> {
    const stopAt = Date.now() + limitMs;
    for (;;) {
      const found = this.lines.find((line) => line.kind === kind);
      if (found) return found;
      const left = stopAt - Date.now();
      if (!this.running || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  kill(): void {
    if (this.running) this.process.kill('SIGKILL');
  }

  describe(): string {
    const errors = this.lines
      .filter((line) => line.kind === 'error' || line.kind === 'log')
      .map((line) => JSON.stringify(line))
      .slice(-20);
    return [
      `${this.name}: exit code ${this.process.exitCode}, signal ${this.process.signalCode}`,
      errors.length > 0 ? `reported:\n${errors.join('\n')}` : '',
      this.stderr ? `stderr:\n${this.stderr.slice(-4_000)}` : '',
    ]
      .filter(Boolean)
      .join('\n');
  }
}
