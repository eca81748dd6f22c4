import { ClientOp, PROTOCOL_VERSION, ProtocolError, ProtocolErrorCode, type RequestFrame } from '@reliable-mq/protocol';
import { OPERATIONS, REFUSED_WHILE_DRAINING, type Operation } from './broker-operations';
import { Args } from './request-args';

/** The handler that runs a client's call, and the call's arguments, checked. */
export interface Call {
  operation: Operation;
  args: Args;
}

/**
 * Finds the handler of a call made after the hello and checks its arguments. Throws the refusal: a fatal
 * ProtocolError for an unknown call or a second hello (the connection ends, as a peer that sends them does not speak
 * this protocol), SHUTTING_DOWN for a call refused while the broker drains (the client retries elsewhere), or the
 * arguments' own error.
 */
export function callOf(frame: RequestFrame, draining: boolean): Call {
  const operation = Object.hasOwn(OPERATIONS, frame.op) ? OPERATIONS[frame.op] : undefined;
  if (!operation) {
    throw new ProtocolError(
      frame.op === ClientOp.HELLO ? ProtocolErrorCode.BAD_REQUEST : ProtocolErrorCode.UNKNOWN_OP,
      frame.op === ClientOp.HELLO
        ? 'hello was already done on this connection.'
        : `Unknown call ${JSON.stringify(frame.op)} (protocol ${PROTOCOL_VERSION}).`,
      true,
    );
  }
  if (draining && REFUSED_WHILE_DRAINING.has(frame.op)) {
    throw new ProtocolError(
      ProtocolErrorCode.SHUTTING_DOWN,
      'The broker is shutting down; retry on another connection.',
    );
  }
  return { operation, args: Args.of(frame.op, frame.a) };
}
