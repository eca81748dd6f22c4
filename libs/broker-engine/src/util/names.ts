import { InvalidNameError } from '../errors';

const NAME_PATTERN = /^[A-Za-z0-9._%-]+$/;
export const MAX_NAME_LENGTH = 127;

/** Topic and group names: letters, digits, `.`, `_`, `-`, `%`; 1–127 characters. */
export function validateName(kind: 'topic' | 'group', value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidNameError(kind, value, `expected a string, got ${value === null ? 'null' : typeof value}`);
  }
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new InvalidNameError(kind, value, `length must be 1–${MAX_NAME_LENGTH} characters, got ${value.length}`);
  }
  if (!NAME_PATTERN.test(value)) {
    throw new InvalidNameError(kind, value, 'only letters, digits, ".", "_", "-" and "%" are allowed');
  }
  return value;
}

export const retryTopicOf = (group: string): string => `%RETRY%${group}`;
/** Where a group's redistributed backlog waits: read by the group's members with the topics it came from. */
export const backlogTopicOf = (group: string): string => `%BACKLOG%${group}`;
export const dlqTopicOf = (group: string): string => `%DLQ%${group}`;
export const isSystemTopic = (topic: string): boolean => topic.startsWith('%');
