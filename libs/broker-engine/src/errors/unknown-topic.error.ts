import { ReliableMqError } from './reliable-mq.error';

export class UnknownTopicError extends ReliableMqError {
  readonly code = 'UNKNOWN_TOPIC';

  constructor(readonly topic: string) {
    super(
      `Topic "${topic}" does not exist. Create it with createTopic() or open the engine with autoCreateTopics: true.`,
    );
  }
}
