import { randomUUID } from 'node:crypto';
import type { Transport } from '../src/transport/transport.interface';

/** A fixture's `newTopic`: a topic of a random name, created on the transport. Not part of the public API. */
export function randomTopics(transport: Transport): () => Promise<string> {
  return async () => {
    const topic = `t-${randomUUID().slice(0, 8)}`;
    await transport.ensureTopic(topic);
    return topic;
  };
}
