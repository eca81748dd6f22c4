/**
 * Lua scripts of the Redis dedup store. Each runs atomically on the server, so a state is never read and written
 * by two deliveries in between.
 *
 * Values: `PROCESSING:<token>` while a run holds the key, `DONE` once one succeeded.
 */

/**
 * KEYS[1] key; ARGV[1] claim value; ARGV[2] processing TTL in ms.
 * Returns 1 when the claim was taken, otherwise the value that holds the key.
 */
export const CLAIM_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
return 0
`;

/**
 * KEYS[1] key; ARGV[1] our claim value; ARGV[2] done TTL in ms.
 * Sets DONE when we still hold the claim, or when nobody holds the key (our claim expired and nobody took it:
 * recording DONE is still true). Leaves another run's claim, or an existing DONE, alone. Returns 1 when set.
 */
export const MARK_DONE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or not current then
  redis.call('SET', KEYS[1], 'DONE', 'PX', ARGV[2])
  return 1
end
return 0
`;

/** KEYS[1] key; ARGV[1] our claim value. Deletes the key only while we hold it. Returns 1 when deleted. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export const DONE_VALUE = 'DONE';
export const PROCESSING_PREFIX = 'PROCESSING:';
