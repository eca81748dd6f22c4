/**
 * Even allocation: queues sorted by id are cut into contiguous runs, one per member
 * sorted by id; the first `queues % members` members take one extra. Every member
 * computes the same answer from the same inputs.
 */
export function allocateEvenly(memberIds: readonly string[], queueIds: readonly number[]): Map<string, number[]> {
  const members = [...memberIds].sort();
  const queues = [...queueIds].sort((a, b) => a - b);
  const result = new Map<string, number[]>(members.map((id) => [id, []]));
  if (members.length === 0) return result;
  const base = Math.floor(queues.length / members.length);
  const extra = queues.length % members.length;
  let cursor = 0;
  members.forEach((id, index) => {
    const take = base + (index < extra ? 1 : 0);
    result.set(id, queues.slice(cursor, cursor + take));
    cursor += take;
  });
  return result;
}
