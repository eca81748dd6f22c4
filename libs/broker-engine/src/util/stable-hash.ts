/**
 * FNV-1a over the key's UTF-8 bytes. It must never change between releases or
 * processes: it decides which queue (and so which order) a business key lives in.
 */
export function stableHash(key: string): number {
  let hash = 0x811c9dc5;
  const bytes = Buffer.from(key, 'utf8');
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
