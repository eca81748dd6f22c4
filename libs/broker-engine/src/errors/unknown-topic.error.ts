import { ReliableMqError } from './reliable-mq.error';

export class UnknownTopicError extends ReliableMqError {
  readonly code = 'UNKNOWN_TOPIC';

  constructor(readonly topic: string) {
    super(
      `Topic "${topic}" does not exist. Create it first: list it in transport.topics (ReliableMqModule), in ` +
        `BROKER_TOPICS (standalone broker), or call createTopic() on the engine; or let the engine create topics on ` +
        `first use with autoCreateTopics: true.`,
    );
  }
}
