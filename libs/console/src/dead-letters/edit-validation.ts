import { ConflictException, UnprocessableEntityException } from '@nestjs/common';
import type { DeadLetter } from '@reliable-mq/engine';
import type { MqConsumerOptions } from '@reliable-mq/nestjs';
import { parseAndValidate } from '@reliable-mq/nestjs';
import type { ConsumerPayloadCheck } from '@reliable-mq/nestjs';
import type { ConsoleBrokerSource, ConsoleConsumerInfo } from '../console-options.interface';
import { validationOf } from '../sources/consumer-catalog.service';

export const UNCHECKED_EDIT_CONFIRMATION_CODE = 'EDIT_UNCHECKED_CONFIRMATION_REQUIRED';
export const EDIT_INVALID_CODE = 'EDIT_INVALID';
/** What an edit is validated against when no handler class is known here but the broker can ask a live consumer. */
export const LIVE_CONSUMER_VALIDATION = 'live-consumer';

/** How an edited payload was checked before it was sent; recorded in the audit entry. */
export type EditCheck =
  | { checkedBy: 'handler'; validation: string }
  | { checkedBy: 'live-consumer'; validation: string; handler: string | null }
  | { checkedBy: 'nothing'; why: string }
  | { checkedBy: 'unchecked'; reason: string };

/**
 * Checks an edited payload before it is sent, in this order:
 * 1. a handler known here (discovered in the host application or configured): its DTO or schema, or nothing when it
 *    declares neither;
 * 2. otherwise a live consumer of the group asked through the broker, when the broker source can (the standalone
 *    console on the remote broker);
 * 3. otherwise nothing: the edit is checked as JSON only, as before.
 *
 * A refusal is a 422 with the checker's message. When a live consumer should have been asked but none could answer,
 * the edit is not sent silently: 409 until the operator confirms with `confirmUnchecked: true`.
 */
export async function checkEdit(input: {
  letter: DeadLetter;
  body: string;
  consumer: ConsoleConsumerInfo | undefined;
  source: ConsoleBrokerSource;
  confirmUnchecked: boolean;
}): Promise<EditCheck> {
  const { letter, body, consumer, source } = input;
  if (consumer) {
    if (!consumer.dto && !consumer.schema)
      return { checkedBy: 'nothing', why: 'the handler declares no DTO or schema' };
    await checkLocally(letter, body, consumer);
    return { checkedBy: 'handler', validation: validationOf(consumer) };
  }
  if (!source.validatePayload) return { checkedBy: 'nothing', why: 'no handler is known to this console' };
  let check: ConsumerPayloadCheck;
  try {
    check = await source.validatePayload(letter.group, letter.topic, body);
  } catch (error) {
    check = {
      status: 'unavailable',
      reason: `asking the broker failed: ${(error as Error)?.message ?? String(error)}`,
    };
  }
  if (check.status === 'valid') {
    return {
      checkedBy: 'live-consumer',
      validation: check.validation ?? LIVE_CONSUMER_VALIDATION,
      handler: check.handler ?? null,
    };
  }
  if (check.status === 'invalid') {
    throw refused(letter, check.handler ?? null, check.validation ?? LIVE_CONSUMER_VALIDATION, check.errors.join('; '));
  }
  if (!input.confirmUnchecked) {
    throw new ConflictException({
      statusCode: 409,
      error: 'Conflict',
      code: UNCHECKED_EDIT_CONFIRMATION_CODE,
      reason: check.reason,
      message:
        `No live consumer of group ${letter.group} could check this edit (${check.reason}), so it may be refused ` +
        'again and land back in the dead letters. Send confirmUnchecked: true to send it unchecked.',
    });
  }
  return { checkedBy: 'unchecked', reason: check.reason };
}

/** The audit fields that say how an edit was checked. */
export function auditOf(check: EditCheck): Record<string, unknown> {
  switch (check.checkedBy) {
    case 'handler':
      return { editCheckedBy: 'handler', editValidation: check.validation };
    case 'live-consumer':
      return { editCheckedBy: 'live-consumer', editValidation: check.validation, editCheckedByHandler: check.handler };
    case 'nothing':
      return { editCheckedBy: 'json-only', editNotValidatedBecause: check.why };
    case 'unchecked':
      return { editCheckedBy: 'unchecked', sentUnchecked: true, uncheckedReason: check.reason };
  }
}

async function checkLocally(letter: DeadLetter, body: string, consumer: ConsoleConsumerInfo): Promise<void> {
  try {
    // A DTO describes an object; an array would pass class-validator unchecked, so it is refused here.
    if (consumer.dto && Array.isArray(JSON.parse(body))) {
      throw new Error(`Payload failed validation against ${consumer.dto.name}: expected an object, got an array.`);
    }
    await parseAndValidate(Buffer.from(body, 'utf8'), {
      dto: consumer.dto,
      schema: consumer.schema,
    } as MqConsumerOptions);
  } catch (error) {
    throw refused(letter, consumer.handler ?? null, validationOf(consumer), (error as Error).message);
  }
}

function refused(
  letter: DeadLetter,
  handler: string | null,
  validation: string,
  problem: string,
): UnprocessableEntityException {
  return new UnprocessableEntityException({
    statusCode: 422,
    error: 'Unprocessable Entity',
    code: EDIT_INVALID_CODE,
    validation,
    message: `The edited payload would be refused by ${handler ?? `the ${letter.group} handler`}: ${problem}`,
  });
}
