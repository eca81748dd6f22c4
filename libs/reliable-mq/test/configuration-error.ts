import { expect } from 'vitest';
import { ConfigurationError } from '../src/errors';

/** Expects `action` to throw a ConfigurationError whose message matches `message` and names `where`. */
export function expectConfigurationError(action: () => unknown, message: RegExp, where: string): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigurationError);
  expect((caught as Error).message).toMatch(message);
  expect((caught as Error).message).toContain(where);
}
