import { Redis } from 'ioredis';
import { REDIS_URL } from './services';

/** Deletes the keys under `prefix` (SCAN, bounded), so a run leaves nothing behind in Redis. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  try {
    let cursor = '0';
    for (let pass = 0; pass < 100_000; pass++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
}
