import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { isDefaultSort, parseSort, sortParams, sortRows, sortSpec } from './sort';

const SPEC = sortSpec(['name', 'count', 'at'] as const, { column: 'at', dir: 'desc' }, ['count', 'at']);

describe('sort parameters', () => {
  it('gives the default order without parameters, and each column its first direction', () => {
    expect(parseSort(SPEC, {})).toEqual({ column: 'at', dir: 'desc' });
    expect(parseSort(SPEC, { sort: '', dir: '' })).toEqual({ column: 'at', dir: 'desc' });
    expect(parseSort(SPEC, { sort: 'name' })).toEqual({ column: 'name', dir: 'asc' });
    expect(parseSort(SPEC, { sort: 'count' })).toEqual({ column: 'count', dir: 'desc' });
    expect(parseSort(SPEC, { sort: 'name', dir: 'desc' })).toEqual({ column: 'name', dir: 'desc' });
    expect(isDefaultSort(SPEC, parseSort(SPEC, { dir: 'desc' }))).toBe(true);
    expect(isDefaultSort(SPEC, parseSort(SPEC, { dir: 'asc' }))).toBe(false);
  });

  it('refuses an unknown column with a 400 naming the allowed ones, and a bad direction', () => {
    for (const sort of ['nope', 'NAME', '__proto__', ['name']]) {
      const error = (() => {
        try {
          parseSort(SPEC, { sort });
        } catch (caught) {
          return caught;
        }
        return null;
      })();
      expect(error, JSON.stringify(sort)).toBeInstanceOf(BadRequestException);
      expect((error as BadRequestException).message).toContain('sort must be one of: name, count, at');
    }
    expect(() => parseSort(SPEC, { sort: 'name', dir: 'up' })).toThrow('dir must be asc or desc; got "up".');
    expect(() => parseSort(SPEC, { topicSort: 'x' }, sortParams('topic'))).toThrow(
      'topicSort must be one of: name, count, at',
    );
  });

  it('sorts text without case and numbers by value, keeps ties in order, and puts missing values last', () => {
    const rows = [
      { name: 'b', count: 2 },
      { name: 'A', count: null },
      { name: 'c', count: 10 },
      { name: 'a', count: 2 },
    ];
    const value = (row: (typeof rows)[number], column: 'name' | 'count' | 'at') =>
      column === 'name' ? row.name : column === 'count' ? row.count : null;
    expect(sortRows(rows, { column: 'name', dir: 'asc' }, value).map((row) => row.name)).toEqual(['A', 'a', 'b', 'c']);
    expect(sortRows(rows, { column: 'count', dir: 'asc' }, value).map((row) => row.name)).toEqual(['b', 'a', 'c', 'A']);
    expect(sortRows(rows, { column: 'count', dir: 'desc' }, value).map((row) => row.name)).toEqual([
      'c',
      'b',
      'a',
      'A',
    ]);
    // Text with numbers compares as people read it: item-2 before item-10.
    expect(
      sortRows([{ n: 'item-10' }, { n: 'item-2' }], { column: 'name', dir: 'asc' }, (row) => row.n).map((r) => r.n),
    ).toEqual(['item-2', 'item-10']);
  });
});
