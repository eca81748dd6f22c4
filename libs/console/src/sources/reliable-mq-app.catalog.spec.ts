import { describe, expect, it } from 'vitest';
import { dedupWindowOf, mergeCatalogs } from './reliable-mq-app.catalog';

describe('dedup windows and catalogs', () => {
  it('reads the window a dedup store keeps done records for', () => {
    expect(dedupWindowOf({ store: 'redis', url: 'redis://x', doneTtlMs: '1h' })).toBe(3_600_000);
    expect(dedupWindowOf({ store: 'redis', url: 'redis://x' })).toBe(7 * 24 * 3_600_000);
    expect(dedupWindowOf({ store: 'memory' })).toBe(7 * 24 * 3_600_000);
    expect(dedupWindowOf({ store: 'db' })).toBe(7 * 24 * 3_600_000);
    expect(dedupWindowOf({ store: 'db', retentionMs: '30d' })).toBe(30 * 24 * 3_600_000);
    expect(dedupWindowOf({ store: 'db', retentionMs: null })).toBeNull();
    expect(dedupWindowOf(undefined)).toBeUndefined();
  });

  it('merges catalogs: the first declaration of a (group, topic) and of a group window wins', () => {
    const merged = mergeCatalogs([
      { consumers: [{ group: 'g', topic: 't', handler: 'A.a' }], dedupWindows: { g: null } },
      {
        consumers: [
          { group: 'g', topic: 't', handler: 'B.b' },
          { group: 'h', topic: 't' },
        ],
        dedupWindows: { g: 5, h: 6 },
      },
    ]);
    expect(merged).toEqual({
      consumers: [
        { group: 'g', topic: 't', handler: 'A.a' },
        { group: 'h', topic: 't' },
      ],
      dedupWindows: { g: null, h: 6 },
    });
  });
});
