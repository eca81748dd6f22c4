import { MessageTooLargeError, UnknownTopicError, validateName, type BrokerEngine } from '@reliable-mq/engine';
import { ProtocolError, ProtocolErrorCode, type ValidatePayloadResult } from '@reliable-mq/protocol';
import { isPlainObject } from './request-args';

/** A live subscription whose member said at subscribe time that it can check payloads. */
export interface ValidatingMember {
  memberId: string;
  /** Sends `payload.validate` for subscription `sub` to that member and waits up to `timeoutMs` for its answer. */
  ask(payload: Buffer, timeoutMs: number): Promise<unknown>;
}

/** Where the router finds members: every open connection's subscriptions of (group, topic). */
export interface MemberDirectory {
  /** Subscriptions of `group` on `topic` on open connections, validating or not. */
  subscriptionsOf(group: string, topic: string): Array<{ validates: boolean; member: ValidatingMember }>;
}

const MAX_ERRORS = 50;
const MAX_ERROR_CHARS = 4 * 1024;
const MAX_LABEL_CHARS = 256;
/** (group, topic) pairs remembered from subscriptions; past this, only dead letters tell a group is known. */
const MAX_REMEMBERED_PAIRS = 100_000;

/**
 * Forwards `payload.validate` from a caller (the console) to one live member of the group that consumes the topic
 * and can validate, and turns its answer into the caller's. The broker never judges payloads itself: only the
 * consumer knows its DTO or schema. Members take turns, so one slow instance does not answer every check.
 */
export class PayloadValidationRouter {
  private readonly seen = new Set<string>();
  private turn = 0;

  constructor(
    private readonly engine: BrokerEngine,
    private readonly directory: MemberDirectory,
    private readonly timeoutMs: number,
  ) {}

  /** Remembers that `group` consumed `topic` on this broker, so a later check knows the group. */
  subscribed(group: string, topic: string): void {
    if (this.seen.size < MAX_REMEMBERED_PAIRS) this.seen.add(`${group}\u0000${topic}`);
  }

  async validate(group: string, topic: string, payload: Buffer): Promise<ValidatePayloadResult> {
    validateName('group', group);
    validateName('topic', topic);
    if (!this.engine.getTopic(topic)) throw new UnknownTopicError(topic);
    const limit = this.engine.options.maxBodyBytes;
    if (payload.length > limit) throw new MessageTooLargeError(payload.length, limit);
    const subscriptions = this.directory.subscriptionsOf(group, topic);
    if (subscriptions.length === 0 && !this.knows(group, topic)) {
      throw new ProtocolError(
        ProtocolErrorCode.UNKNOWN_GROUP,
        `Group "${group}" has never consumed topic "${topic}" on this broker: no subscription and no dead letter.`,
      );
    }
    const validating = subscriptions.filter((entry) => entry.validates).map((entry) => entry.member);
    if (validating.length === 0) {
      return {
        status: 'unavailable',
        reason:
          subscriptions.length === 0
            ? `no member of group "${group}" consuming "${topic}" is connected`
            : `the connected members of group "${group}" on "${topic}" do not offer payload checks`,
      };
    }
    const member = validating[this.turn++ % validating.length]!;
    let answer: unknown;
    try {
      answer = await member.ask(payload, this.timeoutMs);
    } catch (error) {
      return {
        status: 'unavailable',
        reason: `member ${member.memberId} of group "${group}" gave no answer: ${(error as Error).message}`,
      };
    }
    return readMemberAnswer(answer, member.memberId, group);
  }

  private knows(group: string, topic: string): boolean {
    if (this.seen.has(`${group}\u0000${topic}`)) return true;
    return this.engine.listDeadLetters({ group, topic, status: 'any', limit: 1 }).total > 0;
  }
}

function readMemberAnswer(answer: unknown, memberId: string, group: string): ValidatePayloadResult {
  const unreadable: ValidatePayloadResult = {
    status: 'unavailable',
    reason: `member ${memberId} of group "${group}" answered in a shape this broker does not know`,
  };
  if (!isPlainObject(answer)) return unreadable;
  const about = {
    ...(typeof answer.handler === 'string' ? { handler: answer.handler.slice(0, MAX_LABEL_CHARS) } : {}),
    ...(typeof answer.validation === 'string' ? { validation: answer.validation.slice(0, MAX_LABEL_CHARS) } : {}),
  };
  if (answer.valid === true) return { status: 'valid', memberId, ...about };
  if (
    answer.valid === false &&
    Array.isArray(answer.errors) &&
    answer.errors.length > 0 &&
    answer.errors.every((error) => typeof error === 'string')
  ) {
    const errors = (answer.errors as string[]).slice(0, MAX_ERRORS).map((error) => error.slice(0, MAX_ERROR_CHARS));
    return { status: 'invalid', errors, memberId, ...about };
  }
  return unreadable;
}
