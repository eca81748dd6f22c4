import { AsyncResource } from 'node:async_hooks';

export type DetachedRunner = <T>(fn: () => T) => T;

/**
 * Captures the async context current when the engine is built. Engine callbacks (flushes,
 * pumps, timers) run in it instead of in the context of whatever call scheduled them, so a
 * caller's AsyncLocalStorage (a request scope, a held lock) never leaks into the delivery of
 * unrelated messages.
 */
export function detachedScope(): DetachedRunner {
  const resource = new AsyncResource('ReliableMqEngine');
  return (fn) => resource.runInAsyncScope(fn);
}
