import { InvalidArgumentError } from '../errors';

/**
 * Refuses edited headers of a dead letter's resend that are not an object of string values. Every dead-letter store
 * (the engine's, the RabbitMQ transport's) checks an edit with this before it changes anything.
 */
export function checkEditedHeaders(headers: unknown): void {
  if (headers === undefined) return;
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Object.values(headers).some((value) => typeof value !== 'string')
  ) {
    throw new InvalidArgumentError('Edited headers must be an object of string values.');
  }
}
