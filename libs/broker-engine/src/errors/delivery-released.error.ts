import { ReliableMqError } from './reliable-mq.error';

/**
 * A handler rejects with this to give its message back unhandled, typically because its application is shutting down:
 * the message is delivered again (to this member or another) as if it had never been handed out, and counts neither
 * as a failure nor as a delivery. Meant for a member that is closing; an active member would get it back at once.
 */
export class DeliveryReleasedError extends ReliableMqError {
  readonly code = 'DELIVERY_RELEASED';

  constructor(reason = 'the handler gave the message back unhandled') {
    super(reason);
  }
}
