/** SQLITE_FULL: the database hit max_page_count or the disk ran out. */
export function isStorageFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL';
}
