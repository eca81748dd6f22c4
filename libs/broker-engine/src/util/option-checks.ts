import { parseDuration } from './duration';

/**
 * The two checks every options resolver makes. Each returns the fallback when the value is unset, or the checked
 * value; otherwise it calls `fail` with one sentence that names the option and says what it accepts.
 */
export interface OptionChecks {
  /** An integer from `min` to `max`. */
  integer(name: string, value: unknown, fallback: number, min: number, max: number): number;
  /** Milliseconds, or a duration string such as "30s" (see parseDuration), of at least `min` ms. */
  duration(name: string, value: unknown, fallback: number, min: number): number;
}

/**
 * Checks that fail through `fail`, which throws the caller's own error (a ConfigurationError with the module's name,
 * an InvalidArgumentError, ...). `prefix` is put before each option's name, as in "relay." or "transport.".
 */
export function optionChecks(fail: (problem: string) => never, prefix = ''): OptionChecks {
  return {
    integer(name, value, fallback, min, max) {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        fail(`${prefix}${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
      }
      return value as number;
    },
    duration(name, value, fallback, min) {
      if (value === undefined) return fallback;
      let ms: number;
      try {
        ms = parseDuration(value as number | string, `${prefix}${name}`);
      } catch (error) {
        return fail((error as Error).message);
      }
      if (ms < min) fail(`${prefix}${name} must be at least ${min} ms; got ${ms} ms.`);
      return ms;
    },
  };
}
