import { ownerOnlyDirectory, writeOwnerOnlyFile } from '@reliable-mq/engine';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the sample keeps the payment service's operations token: `npm run dlq` and curl read it there. */
export function opsTokenFile(dataDir: string): string {
  return join(dataDir, 'ops-token');
}

/**
 * The token of the payment service's operations that change state (resending a dead letter): OPS_TOKEN when given,
 * else one generated the first time and kept in `<dataDir>/ops-token` (readable by the owner only), so that scripts
 * and the operator find it and it stays the same across restarts of the same data.
 */
export function sampleOpsToken(dataDir: string, given: string | undefined): string {
  if (given !== undefined && given.trim() !== '') return given.trim();
  const file = opsTokenFile(dataDir);
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept !== '') return kept;
  }
  ownerOnlyDirectory(dataDir);
  const token = randomBytes(24).toString('base64url');
  writeOwnerOnlyFile(file, `${token}\n`);
  return token;
}
