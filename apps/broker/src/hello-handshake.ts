import { ClientOp, PROTOCOL_VERSION, ProtocolError, ProtocolErrorCode, type HelloResult } from '@reliable-mq/protocol';
import type { ConnectionHost } from './connection-host';
import { Args } from './request-args';

/** What a client says in its hello. */
export interface HelloRequest {
  protocol: number;
  token: string | undefined;
  /** Printable ASCII only: it goes into the broker's log lines. */
  clientName: string;
  /** The client reads `deliver.batch` events. */
  batching: boolean;
}

/** Reads a hello's arguments. Every refusal of a hello ends the connection, values out of range included. */
export function readHello(args: unknown): HelloRequest {
  try {
    const hello = Args.of(ClientOp.HELLO, args);
    const protocol = hello.integer('protocol', 0, 0xffff_ffff);
    const token = hello.optionalString('token', 4096);
    const clientName = (hello.optionalString('client', 256) ?? '').replace(/[^\x20-\x7e]/g, '?');
    return { protocol, token, clientName, batching: hello.optionalBoolean('batching') === true };
  } catch (error) {
    throw new ProtocolError(ProtocolErrorCode.BAD_REQUEST, (error as Error).message, true);
  }
}

/** Why a hello asking for `protocol` is refused, or null when this broker speaks it. */
export function versionRefusal(protocol: number): ProtocolError | null {
  if (protocol === PROTOCOL_VERSION) return null;
  return new ProtocolError(
    ProtocolErrorCode.UNSUPPORTED_VERSION,
    `This broker speaks protocol ${PROTOCOL_VERSION}; the client asked for ${protocol}.`,
    true,
  );
}

/** The refusal of a hello whose token is missing or wrong. */
export function unauthorized(token: string | undefined): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.UNAUTHORIZED,
    token === undefined ? 'A token is required: set the broker token on the client.' : 'The token is not valid.',
    true,
  );
}

/** The answer to an accepted hello: the limits and timeouts the client must keep to. */
export function helloResult(host: ConnectionHost, admin: boolean): HelloResult {
  const { config } = host;
  return {
    protocol: PROTOCOL_VERSION,
    server: 'reliable-mq-broker',
    version: host.version,
    maxFrameBytes: config.maxFrameBytes,
    heartbeatMs: config.heartbeatMs,
    idleTimeoutMs: config.idleTimeoutMs,
    maxBatchSize: host.maxBatchSize,
    maxBodyBytes: host.maxBodyBytes,
    validateTimeoutMs: config.validateTimeoutMs,
    backlogCalls: true,
    admin,
    batching: true,
  };
}
