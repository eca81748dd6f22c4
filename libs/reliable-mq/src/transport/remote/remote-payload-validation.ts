import type { ConsumerPayloadCheck } from '../transport.interface';
import type { BrokerClientConnection } from './broker-client-connection';
import { ClientOp, ProtocolError, ProtocolErrorCode, type MemberValidateResult } from '@reliable-mq/protocol';
import type { RemoteSubscription } from './remote-subscription';

/** Bounds of a member's answer, so a chatty validator cannot make it larger than a frame. */
const MAX_ERRORS = 50;
const MAX_ERROR_CHARS = 4 * 1024;
/** Time allowed for the broker's own answer beyond its wait for the member. */
const ANSWER_MARGIN_MS = 5_000;

/**
 * Answers the broker's `payload.validate` for one of this client's subscriptions with the check its handler applies
 * before running (never the handler itself). An unknown subscription, or one without a validator, is an error the
 * broker reports to the caller as `unavailable`.
 */
export async function answerValidate(
  args: unknown,
  subscriptions: ReadonlyMap<number, RemoteSubscription>,
): Promise<MemberValidateResult> {
  const { sub, payload } = (args ?? {}) as { sub?: unknown; payload?: unknown };
  const subscription = typeof sub === 'number' ? subscriptions.get(sub) : undefined;
  const validator = subscription?.validator;
  if (!subscription || subscription.isClosing || !validator) {
    throw new ProtocolError(
      ProtocolErrorCode.UNKNOWN_SUBSCRIPTION,
      `This client holds no validating subscription ${String(sub)}.`,
    );
  }
  if (!(payload instanceof Uint8Array)) {
    throw new ProtocolError(ProtocolErrorCode.BAD_REQUEST, '`payload` must be binary.');
  }
  const body = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const check = await validator.check(body);
  const about = {
    ...(validator.handler !== undefined ? { handler: validator.handler } : {}),
    ...(validator.validation !== undefined ? { validation: validator.validation } : {}),
  };
  if (check.valid) return { valid: true, ...about };
  const errors = check.errors.slice(0, MAX_ERRORS).map((error) => String(error).slice(0, MAX_ERROR_CHARS));
  return { valid: false, errors: errors.length > 0 ? errors : ['The payload was refused.'], ...about };
}

/**
 * Asks the broker to have a live, validating member of `group` on `topic` check `body`. A broker that does not
 * announce the call in its hello is not asked (it would close the connection on an unknown call).
 */
export async function askValidation(
  connection: BrokerClientConnection,
  group: string,
  topic: string,
  body: Buffer,
  requestTimeoutMs: number,
): Promise<ConsumerPayloadCheck> {
  const brokerWait = connection.hello.validateTimeoutMs;
  if (typeof brokerWait !== 'number') {
    return {
      status: 'unavailable',
      reason: `the broker (version ${connection.hello.version}) cannot ask its consumers to check a payload`,
    };
  }
  const answer = (await connection.call(
    ClientOp.PAYLOAD_VALIDATE,
    { group, topic, payload: body },
    Math.max(requestTimeoutMs, brokerWait + ANSWER_MARGIN_MS),
  )) as Record<string, unknown> | null;
  return readBrokerAnswer(answer);
}

function readBrokerAnswer(answer: Record<string, unknown> | null): ConsumerPayloadCheck {
  const about = (): { handler?: string; validation?: string } => ({
    ...(typeof answer?.handler === 'string' ? { handler: answer.handler } : {}),
    ...(typeof answer?.validation === 'string' ? { validation: answer.validation } : {}),
  });
  if (answer?.status === 'valid') return { status: 'valid', ...about() };
  if (
    answer?.status === 'invalid' &&
    Array.isArray(answer.errors) &&
    answer.errors.every((error) => typeof error === 'string')
  ) {
    return { status: 'invalid', errors: answer.errors as string[], ...about() };
  }
  if (answer?.status === 'unavailable' && typeof answer.reason === 'string') {
    return { status: 'unavailable', reason: answer.reason };
  }
  return { status: 'unavailable', reason: 'the broker answered the check in a shape this client does not know' };
}
