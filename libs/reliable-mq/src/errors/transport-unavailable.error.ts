import { TransportError } from './transport.error';

/**
 * The broker could not be asked: the transport is not connected, or the connection went away before the broker
 * answered. It says nothing about the message, so the outbox relay counts no attempt for it and sends the rows
 * again once the transport is connected. A call cut off this way may have been carried out; ids and consumer dedup
 * absorb the resend.
 */
export class TransportUnavailableError extends TransportError {
  readonly unavailable = true;
}
