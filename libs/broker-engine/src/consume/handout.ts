import type { Delivery } from '../engine.types';

/**
 * One message handed to a member that holds some of its messages before their handlers start (the worker engine's
 * read-ahead). Without it, a message's consume timeout counts from its hand-out. To give a held message back, its
 * handler's outcome is a DeliveryReleasedError. Not exported from the package: the worker engine's own.
 */
export interface Handout {
  /** When the engine takes the message back unless its handler has started or ended (the engine's clock). */
  readonly deadline: number;
  /**
   * Its handler starts now: the consume timeout counts from here, as it would have had the message been handed out
   * now. False when the hand-out is no longer current (timed out or released), and nothing changes.
   */
  started(): boolean;
}

/** A handler that is given each message's hand-out with it. */
export type HandoutHandler = (delivery: Delivery, handout: Handout) => Promise<void>;
