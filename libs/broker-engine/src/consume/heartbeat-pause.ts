import type { Subscription } from '../engine.types';

/**
 * Key of the switch that stops a member's heartbeat, on the subscriptions the engine returns. A symbol keeps the
 * switch out of the public `Subscription` type: only specs need a member that hangs while its process lives on.
 */
export const PAUSE_HEARTBEAT = Symbol('pauseHeartbeat');

export interface HeartbeatPausable {
  [PAUSE_HEARTBEAT](paused: boolean): void;
}

function isPausable(subscription: Subscription): subscription is Subscription & HeartbeatPausable {
  return PAUSE_HEARTBEAT in subscription;
}

/** Stops or resumes a member's heartbeat, as a member that hangs would, so that its session expires. */
export function pauseHeartbeat(subscription: Subscription, paused: boolean): void {
  if (!isPausable(subscription)) {
    throw new TypeError('Only a subscription returned by BrokerEngine.subscribe can pause its heartbeat.');
  }
  subscription[PAUSE_HEARTBEAT](paused);
}
