import type { BrokerLogger } from './broker-logger';

export interface ThrottledLogger extends BrokerLogger {
  /** Logs the counts of what was held back, at once (at shutdown). */
  flush(): void;
}

interface KindWindow {
  startedAt: number;
  logged: number;
  held: number;
  lastHeld: string;
}

/**
 * A logger whose warnings are limited to `limit` of each kind per window (the kind is the error code a connection was
 * closed with, or `connection` when none is given). The warning that reaches the limit is followed at once by a line
 * that names the kind and says the rest are being counted; when the window ends, one line sums up how many were held
 * back. A flood of bad connections (a scanner, a broken client in a loop) cannot flood the log, and the log says what
 * kind of flood it was while it is going on. Kinds count apart, so a flood of one kind hides no other.
 */
export function throttledLogger(
  inner: BrokerLogger,
  limit = 20,
  windowMs = 10_000,
  now: () => number = Date.now,
): ThrottledLogger {
  const windows = new Map<string, KindWindow>();
  let timer: NodeJS.Timeout | null = null;

  const seconds = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))} s`;

  const close = (kind: string, window: KindWindow, at: number): void => {
    windows.delete(kind);
    if (window.held === 0) return;
    inner.warn(
      `${kind}: ${window.held} more warning(s) of this kind in the last ${seconds(at - window.startedAt)} were not logged; the last: ${window.lastHeld}`,
    );
  };

  const sweep = (): void => {
    timer = null;
    const at = now();
    for (const [kind, window] of windows) if (at - window.startedAt >= windowMs) close(kind, window, at);
    arm();
  };

  const arm = (): void => {
    if (timer || windows.size === 0) return;
    const oldest = Math.min(...[...windows.values()].map((window) => window.startedAt));
    timer = setTimeout(sweep, Math.max(0, oldest + windowMs - now()));
    timer.unref();
  };

  return {
    ...inner,
    warn: (message: string, kind = 'connection') => {
      const at = now();
      let window = windows.get(kind);
      if (window && at - window.startedAt >= windowMs) {
        close(kind, window, at);
        window = undefined;
      }
      if (!window) {
        window = { startedAt: at, logged: 0, held: 0, lastHeld: '' };
        windows.set(kind, window);
        arm();
      }
      if (window.logged < limit) {
        window.logged++;
        inner.warn(message);
        if (window.logged === limit) {
          inner.warn(
            `${kind}: ${limit} warnings of this kind within ${seconds(at - window.startedAt)}; further ones are counted and summed up in one line every ${seconds(windowMs)} while they go on.`,
          );
        }
        return;
      }
      window.held++;
      window.lastHeld = message;
    },
    flush: () => {
      if (timer) clearTimeout(timer);
      timer = null;
      const at = now();
      for (const [kind, window] of windows) close(kind, window, at);
    },
  };
}
