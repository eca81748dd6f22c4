import { ReliableMqError } from '@reliable-mq/engine';

/**
 * The remote broker refused a call for a reason of its own protocol (a wrong token, a call it does not know, a
 * shutdown in progress). `brokerCode` is the broker's code, e.g. `UNAUTHORIZED` or `SHUTTING_DOWN`; see
 * docs/broker-protocol.md. Refusals by the broker's engine (an unknown topic, a full disk) arrive as the engine's own
 * error classes instead.
 */
export class BrokerRefusedError extends ReliableMqError {
  readonly code = 'BROKER_REFUSED';

  constructor(
    readonly brokerCode: string,
    message: string,
  ) {
    super(message);
  }
}
