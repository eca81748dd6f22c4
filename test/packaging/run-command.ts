import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CommandOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/*
 * Variables that npm sets for the script it runs (`npm test`). A child npm that inherits them would take this
 * repository's package and prefix for its own, so the fresh app's commands run without them. Configuration that the
 * user set (cache, registry, proxies) stays.
 */
const NPM_SCRIPT_CONTEXT = [
  /^npm_package_/,
  /^npm_lifecycle_/,
  /^npm_config_local_prefix$/,
  /^npm_config_call$/,
  /^npm_config_user_agent$/,
  /^npm_command$/,
  /^npm_execpath$/,
  /^npm_node_execpath$/,
  /^INIT_CWD$/,
  // NODE_ENV=production would make npm skip the app's dev dependencies; the test runner sets it to `test`.
  /^NODE_ENV$/,
];

/** The environment for the commands these tests run: this one without npm's script context, plus `extra`. */
export function commandEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!NPM_SCRIPT_CONTEXT.some((pattern) => pattern.test(name))) env[name] = value;
  }
  // Plain log lines, so that the output quoted in a failure reads as text.
  env.NO_COLOR = '1';
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

/**
 * Runs a command to its end. A command still running at `timeoutMs` is SIGKILLed with everything it started (its
 * process group), and the result says so through `signal`.
 */
export function runCommand(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? commandEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a timeout also stops the grandchildren (node-gyp, the compiler, Jest workers).
      detached: true,
    });
    let [output, stdout, stderr] = ['', '', ''];
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

/** The last `lines` lines of a command's output, for a failure message. */
export function tail(output: string, lines = 60): string {
  return output.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs a command and resolves its result; rejects with the command, how it ended and its output if it failed. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    const how = result.signal ? `was killed (${result.signal}) after ${result.durationMs} ms` : `exited ${result.code}`;
    throw new Error(`\`${[command, ...args].join(' ')}\` in ${options.cwd} ${how}:\n${tail(result.output)}`);
  }
  return result;
}
