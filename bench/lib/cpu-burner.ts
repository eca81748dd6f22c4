import { spawn } from 'node:child_process';

/**
 * A process that keeps one core busy: it spins in 5 ms slices and yields between them only to hear its stop.
 * Bounded three ways: it stops when told, when its own deadline passes, and when its parent's IPC channel closes
 * (the benchmark ended, however), so it never outlives the run.
 */
const BURNER = `
const maxMs = Number(process.argv[1]);
const started = Date.now();
const cpu = process.cpuUsage();
let stopped = false;
let sink = 0;
const finish = () => {
  if (stopped) return;
  stopped = true;
  const used = process.cpuUsage(cpu);
  process.send({ cpuMs: (used.user + used.system) / 1000, wallMs: Date.now() - started }, () => process.exit(0));
};
process.on('message', finish);
process.on('disconnect', () => process.exit(0));
const spin = () => {
  if (stopped) return;
  const now = Date.now();
  if (now - started >= maxMs) return finish();
  while (Date.now() - now < 5) sink = (sink * 31 + 7) | 0;
  setImmediate(spin);
};
process.send({ ready: true });
spin();
`;

export interface CpuBurned {
  /** CPU time the burner got, and the time it ran: their ratio is the share of a core it held. */
  cpuMs: number;
  wallMs: number;
}

export interface CpuBurner {
  readonly pid: number;
  /** Stops it (killed by its PID if it does not answer within 5 s) and says what it burned. Idempotent. */
  stop(): Promise<CpuBurned>;
}

/** Starts a burner that runs at most `maxMs`, and resolves once it is spinning. */
export async function startCpuBurner(maxMs: number): Promise<CpuBurner> {
  const child = spawn(process.execPath, ['-e', BURNER, String(maxMs)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let burned: CpuBurned = { cpuMs: 0, wallMs: 0 };
  child.on('message', (message: Partial<CpuBurned> & { ready?: boolean }) => {
    if (message.cpuMs !== undefined) burned = { cpuMs: message.cpuMs, wallMs: message.wallMs ?? 0 };
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the CPU burner did not start within 10 s')), 10_000);
      child.on('message', (message: { ready?: boolean }) => {
        if (!message.ready) return;
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the CPU burner exited with code ${code} before it started`));
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  let stopping: Promise<CpuBurned> | null = null;
  return {
    pid: child.pid!,
    stop: () =>
      (stopping ??= (async () => {
        if (child.connected) child.send('stop');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
        return burned;
      })()),
  };
}
