import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '@reliable-mq/nestjs';
import type { ReliableMqConsoleOptions } from './console-options.interface';
import { normaliseMountPath, resolveConsoleOptions } from './console-options.resolver';

const HASH = 'scrypt$10$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + 'A'.repeat(43) + '=';
const transport = {
  kind: 'fake',
  deadLetters: {
    list: async () => ({ total: 0, items: [] }),
    get: async () => undefined,
    resend: async () => [],
    discard: async () => [],
  },
};
const base: ReliableMqConsoleOptions = {
  broker: { transport },
  auth: { users: [{ username: 'alice', passwordHash: HASH, role: 'operator' }] },
  storeFile: ':memory:',
};

describe('resolveConsoleOptions', () => {
  it('fills in defaults', () => {
    const resolved = resolveConsoleOptions(base);
    expect(resolved).toMatchObject({
      sessionTtlMs: 8 * 3_600_000,
      idleTimeoutMs: 3_600_000,
      login: { maxFailures: 5, addressMaxFailures: 20, userMaxFailures: 50, windowMs: 300_000, concurrentChecks: 2 },
      stuckAfterMs: 300_000,
      defaultDedupWindowMs: 7 * 24 * 3_600_000,
      bodyLimitBytes: 1024 * 1024,
      retry: { defaultRatePerSec: 20, maxRatePerSec: 500, maxMessages: 10_000, maxConcurrentJobs: 2 },
      sampling: { intervalMs: 15_000, retentionMs: 24 * 3_600_000, maxRows: 200_000 },
    });
  });

  it.each<[string, Partial<ReliableMqConsoleOptions>, string]>([
    ['no users or tokens', { auth: {} }, 'never allows anonymous access'],
    [
      'a plain password',
      { auth: { users: [{ username: 'alice', passwordHash: 'secret', role: 'admin' }] } },
      'never configure a plain password',
    ],
    [
      'an unknown role',
      { auth: { users: [{ username: 'alice', passwordHash: HASH, role: 'root' as never }] } },
      'role must be one of viewer, operator, admin',
    ],
    [
      'a duplicate user',
      {
        auth: {
          users: [
            { username: 'a', passwordHash: HASH, role: 'admin' },
            { username: 'a', passwordHash: HASH, role: 'admin' },
          ],
        },
      },
      'appears twice',
    ],
    [
      'a bad token hash',
      { auth: { tokens: [{ name: 'ci', tokenHash: 'abc', role: 'operator' }] } },
      'tokenHash must be "sha256:<64 hex digits>"',
    ],
    ['no transport', { broker: {} as never }, 'broker.transport must be a transport'],
    ['no store file', { storeFile: '' }, 'storeFile must name the SQLite file'],
    ['a bad duration', { stuckAfter: 'soon' }, 'stuckAfter must be milliseconds or a duration'],
    [
      'a default rate above the maximum',
      { bulkRetry: { defaultRatePerSec: 50, maxRatePerSec: 10 } },
      'above bulkRetry.maxRatePerSec',
    ],
    [
      'two services with one name',
      {
        services: [
          { name: 's', dataSource: { query: () => 0 } as never },
          { name: 's', dataSource: { query: () => 0 } as never },
        ],
      },
      'two service databases are named "s"',
    ],
    ['a tiny body limit', { bodyLimitBytes: 10 }, 'bodyLimitBytes must be an integer from 1024'],
  ])('refuses %s with a sentence that says what to change', (_name, change, message) => {
    expect(() => resolveConsoleOptions({ ...base, ...change })).toThrow(ConfigurationError);
    expect(() => resolveConsoleOptions({ ...base, ...change })).toThrow(message);
  });

  it('normalises mount paths and refuses odd ones', () => {
    expect(normaliseMountPath(undefined)).toBe('console');
    expect(normaliseMountPath('/ops/console/')).toBe('ops/console');
    for (const bad of ['', '/', '/a b', '/../x', '/x?y'])
      expect(() => normaliseMountPath(bad), bad).toThrow(ConfigurationError);
  });
});
