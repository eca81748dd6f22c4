import type { FailureRouter } from '../consume/failure-router';
import type { DeadLetter, DeadLetterPage, DeadLetterQuery, ResendEdit } from '../engine.types';
import { DeadLetterNotFoundError, InvalidArgumentError } from '../errors';
import { HEADER_ORIGIN_TOPIC, HEADER_ORIGINAL_ID, HEADER_RECONSUME_TIMES, HEADER_RESENT_FROM } from '../headers';
import { prepareBatch, type PrepareLimits } from '../publish/message-preparer';
import { retryTopicOf } from '../util/names';
import type { DeadLetterStore } from './dead-letter-store';
import { checkEditedHeaders } from './resend-edit';

interface DeadLetterOperationsDeps {
  deadLetters: DeadLetterStore;
  failures: FailureRouter;
  /** The limits a publish has: an edited body is checked as a published one. */
  limits: PrepareLimits;
  /** Creates a group's retry topic when it is missing (a group that never failed a message has none yet). */
  ensureRetryTopic: (topic: string) => void;
  submit: <T>(apply: () => T, options: { publish: boolean }) => Promise<T>;
  now: () => number;
}

/**
 * What an operator does with dead letters: list and read them, resend them (edited or not) to the group that gave up
 * on them, or discard them with a reason. A letter leaves the `dead` state once, and stays listed for audit.
 */
export class DeadLetterOperations {
  constructor(private readonly deps: DeadLetterOperationsDeps) {}

  list(query: DeadLetterQuery): DeadLetterPage {
    return this.deps.deadLetters.query(query);
  }

  get(id: number): DeadLetter | undefined {
    return this.deps.deadLetters.get(id);
  }

  /** Through the group's retry topic, so only that group handles them again; all of them or none are written. */
  async resend(ids: readonly number[], edit: ResendEdit): Promise<number[]> {
    const letters = this.requireDead(ids);
    const editedBody =
      edit.body === undefined
        ? undefined
        : prepareBatch([{ topic: 'edit', body: edit.body }], this.deps.limits, 0)[0]!.message.body;
    checkEditedHeaders(edit.headers);
    for (const letter of letters) this.deps.ensureRetryTopic(retryTopicOf(letter.group));
    return this.deps.submit(
      () => {
        const now = this.deps.now();
        for (const letter of letters) {
          if (!this.deps.deadLetters.setStatus(letter.id, 'resent', null, now))
            throw new DeadLetterNotFoundError(letter.id, 'dead');
          this.deps.failures.writeRetryCopy(
            letter.group,
            {
              messageId: letter.messageId,
              topic: letter.topic,
              key: letter.key,
              tags: letter.tags.length === 0 ? null : JSON.stringify(letter.tags),
              headers: null,
              body: editedBody ?? letter.body,
              bornAt: letter.bornAt,
              expireAt: null,
            },
            {
              ...(edit.headers ?? letter.headers),
              [HEADER_ORIGIN_TOPIC]: letter.topic,
              [HEADER_ORIGINAL_ID]: letter.originalMessageId,
              [HEADER_RECONSUME_TIMES]: '0',
              [HEADER_RESENT_FROM]: String(letter.id),
            },
            0,
          );
        }
        return letters.map((letter) => letter.id);
      },
      { publish: true },
    );
  }

  async discard(ids: readonly number[], reason: string): Promise<number[]> {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding dead letters needs a non-empty reason.');
    }
    const letters = this.requireDead(ids);
    return this.deps.submit(
      () => {
        const now = this.deps.now();
        for (const letter of letters) {
          if (!this.deps.deadLetters.setStatus(letter.id, 'discarded', reason, now))
            throw new DeadLetterNotFoundError(letter.id, 'dead');
        }
        return letters.map((letter) => letter.id);
      },
      { publish: false },
    );
  }

  private requireDead(ids: readonly number[]): DeadLetter[] {
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => !Number.isInteger(id))) {
      throw new InvalidArgumentError('Pass a non-empty array of dead-letter ids (integers).');
    }
    if (ids.length > this.deps.limits.maxBatchSize) {
      throw new InvalidArgumentError(`At most ${this.deps.limits.maxBatchSize} dead letters per call (maxBatchSize).`);
    }
    return ids.map((id) => {
      const letter = this.deps.deadLetters.get(id);
      if (!letter || letter.status !== 'dead') throw new DeadLetterNotFoundError(id, 'dead');
      return letter;
    });
  }
}
