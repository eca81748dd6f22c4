import { ProtocolError, ProtocolErrorCode, type FramedChannel } from '@reliable-mq/protocol';
import type { BrokerConfig } from './broker-config';

/** Where a connection stands, as far as its deadlines are concerned. */
export interface DeadlineState {
  readonly state: 'handshake' | 'open' | 'closing' | 'closed';
  readonly acceptedAt: number;
  /** Its hello arrived (and may be waiting for the token throttle). */
  readonly helloReceived: boolean;
  readonly remoteAddress: string;
}

/** What the channel knows: when bytes last came, since when a frame is incomplete, whether reading is held. */
export type ChannelTimes = Pick<FramedChannel, 'lastReceivedAt' | 'partialFrameSince' | 'readingHeld'>;

/**
 * The deadline a connection has missed at `now`, as the fatal error to close it with, or null. These keep a broken
 * or hostile peer from holding a connection: no hello in time, a frame that trickles, silence past the idle timeout.
 */
export function missedDeadline(
  connection: DeadlineState,
  channel: ChannelTimes,
  config: BrokerConfig,
  now: number,
): ProtocolError | null {
  if (connection.state === 'handshake' && now - connection.acceptedAt > config.handshakeTimeoutMs) {
    return new ProtocolError(
      ProtocolErrorCode.HANDSHAKE_TIMEOUT,
      connection.helloReceived
        ? `The hello waited more than ${config.handshakeTimeoutMs} ms for its turn: too many wrong tokens came from ${connection.remoteAddress}.`
        : `No hello within ${config.handshakeTimeoutMs} ms.`,
      true,
    );
  }
  // Before the hello is answered only the handshake timeout applies: the hello frame is bounded by it.
  if (
    connection.state !== 'handshake' &&
    channel.partialFrameSince !== null &&
    now - channel.partialFrameSince > config.frameTimeoutMs
  ) {
    return new ProtocolError(
      ProtocolErrorCode.FRAME_TIMEOUT,
      `A frame did not arrive whole within ${config.frameTimeoutMs} ms.`,
      true,
    );
  }
  if (
    connection.state === 'open' &&
    // Reading paused by backpressure: the peer cannot be blamed for the silence.
    !channel.readingHeld &&
    now - channel.lastReceivedAt > config.idleTimeoutMs
  ) {
    return new ProtocolError(
      ProtocolErrorCode.IDLE_TIMEOUT,
      `Nothing received for ${config.idleTimeoutMs} ms; ping every ${config.heartbeatMs} ms to stay connected.`,
      true,
    );
  }
  return null;
}
