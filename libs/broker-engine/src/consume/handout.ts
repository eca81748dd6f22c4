import type { Delivery } from '../engine.types';

/**
 * One message handed to a member that holds some of its messages before their handlers start (the worker engine's
 * read-ahead). Without it, a message's consume timeout counts from its hand-out, and it leaves the member only through
 * its handler's outcome or that timeout. Not exported from the package: the worker engine's own.
 */
export interface Handout {
  /**
   * Its handler starts now: the consume timeout counts from here, as it would have had the message been handed out
   * now. False when the hand-out is no longer current (timed out or released), and nothing changes.
   */
  started(): boolean;
  /**
   * Gives the message back unhandled, as if it had never been handed out: no attempt is counted and it goes out
   * again in its queue's order, to this member or another. A later outcome of this hand-out is ignored.
   */
  release(): void;
}

/** A handler that is given each message's hand-out with it. */
export type HandoutHandler = (delivery: Delivery, handout: Handout) => Promise<void>;
