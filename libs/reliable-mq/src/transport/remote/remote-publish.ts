import { MessageTooLargeError } from '@reliable-mq/engine';
import type { WireConfirm } from '@reliable-mq/protocol';
import { TransportError } from '../../errors/transport.error';
import type { TransportConfirm, TransportMessage } from '../transport.interface';
import type { BrokerClientConnection } from './broker-client-connection';
import { toWireMessage, wireOverhead } from './wire-conversions';

/**
 * Publishes a batch on one connection and resolves with a confirm per message, in order, once the broker has made
 * them durable. A message over the broker's body limit is refused before anything is sent, as the engine would
 * refuse it; a batch larger than a frame or than the broker's batch limit goes out as several pipelined calls.
 */
export async function publishBatch(
  connection: BrokerClientConnection,
  batch: readonly TransportMessage[],
): Promise<TransportConfirm[]> {
  if (batch.length === 0) return [];
  const { maxBodyBytes, maxFrameBytes, maxBatchSize } = connection.hello;
  const tooLarge = batch.findIndex((message) => message.body.length > maxBodyBytes);
  if (tooLarge !== -1) {
    throw new MessageTooLargeError(batch[tooLarge]!.body.length, maxBodyBytes, tooLarge);
  }
  const chunks = chunksOf(batch, maxFrameBytes - 1024, maxBatchSize);
  const results = await Promise.all(
    chunks.map((chunk) => connection.publish(chunk.map(toWireMessage), wireSize(chunk))),
  );
  const confirms: TransportConfirm[] = [];
  chunks.forEach((chunk, index) => {
    const wire: WireConfirm[] | undefined = results[index]?.confirms;
    if (
      !Array.isArray(wire) ||
      wire.length !== chunk.length ||
      wire.some((confirm, at) => confirm?.id !== chunk[at]!.id)
    ) {
      throw new TransportError('The broker answered a publish with confirms that do not match the batch; re-send it.');
    }
    for (const confirm of wire) confirms.push({ id: confirm.id, duplicate: confirm.duplicate === true });
  });
  return confirms;
}

function wireSize(chunk: readonly TransportMessage[]): number {
  let bytes = 0;
  for (const message of chunk) bytes += message.body.length + wireOverhead(message);
  return bytes;
}

/** Splits a batch, in order, into calls that each fit in `frameBudget` bytes and `maxBatchSize` messages. */
function chunksOf(batch: readonly TransportMessage[], frameBudget: number, maxBatchSize: number): TransportMessage[][] {
  const chunks: TransportMessage[][] = [];
  let current: TransportMessage[] = [];
  let size = 0;
  for (const message of batch) {
    const bytes = message.body.length + wireOverhead(message);
    if (current.length > 0 && (size + bytes > frameBudget || current.length >= maxBatchSize)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(message);
    size += bytes;
  }
  chunks.push(current);
  return chunks;
}
