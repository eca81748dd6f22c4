/**
 * Waits for `work` at most `ms`, then goes on without it. For closing channels and connections: on a connection
 * whose socket died silently, amqplib waits for a close-ok that never comes.
 */
export async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
