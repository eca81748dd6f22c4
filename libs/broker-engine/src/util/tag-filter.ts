import { InvalidArgumentError } from '../errors';

export type TagFilter = (tags: readonly string[]) => boolean;

/** `*` (or empty) matches everything; `a || b` matches a message carrying tag a or tag b. */
export function compileTagFilter(expression: string | undefined): TagFilter {
  if (expression !== undefined && typeof expression !== 'string') {
    throw new InvalidArgumentError('tags must be a string such as "*" or "a || b".');
  }
  if (expression === undefined || expression.trim() === '' || expression.trim() === '*') return () => true;
  const wanted = new Set(
    expression
      .split('||')
      .map((part) => part.trim())
      .filter((part) => part.length > 0),
  );
  if (wanted.size === 0 || wanted.has('*')) {
    throw new InvalidArgumentError(`Tag expression ${JSON.stringify(expression)} is malformed; use "*" or "a || b".`);
  }
  return (tags) => tags.some((tag) => wanted.has(tag));
}
