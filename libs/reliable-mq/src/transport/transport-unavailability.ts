import { EngineClosedError } from '@reliable-mq/engine';
import { ProtocolErrorCode } from '@reliable-mq/protocol';
import { BrokerRefusedError } from '../errors/broker-refused.error';
import { TransportError } from '../errors/transport.error';
import { TransportUnavailableError } from '../errors/transport-unavailable.error';
import type { Transport } from './transport.interface';

/** Refusals in which the broker speaks of itself (going away, full of connections), not of the call. */
const UNAVAILABLE_REFUSALS = new Set<string>([ProtocolErrorCode.SHUTTING_DOWN, ProtocolErrorCode.TOO_MANY_CONNECTIONS]);

/**
 * True when a failed call says nothing about what was sent: the broker could not be reached, was going away, or
 * the connection went while the call waited (a timeout or a closed channel counts when the transport is not
 * connected any more). Such failures must not count against a message; answers about the message itself (refused,
 * too large, unroutable, unknown topic) do.
 */
export function isTransportUnavailable(error: unknown, transport: Pick<Transport, 'isConnected'>): boolean {
  if (error instanceof TransportUnavailableError || error instanceof EngineClosedError) return true;
  if (error instanceof BrokerRefusedError) return UNAVAILABLE_REFUSALS.has(error.brokerCode);
  return error instanceof TransportError && transport.isConnected === false;
}
