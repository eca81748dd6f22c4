import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { realpathSync } from 'node:fs';
import { freePort } from './free-port';

/*
 * A RabbitMQ cluster of its own for the failover tests: nodes on loopback with their own names, AMQP and
 * distribution ports, data and log directories under one temp directory, a cookie of their own and an epmd of their
 * own on a private port, so that nothing is shared with the machine's RabbitMQ (which is never stopped or touched).
 * Every process it starts is killed by its id (a node by its process group), and the directory removed, in `stop()`,
 * and again when the test process exits. Not part of the public API.
 */

export interface RabbitMqTools {
  /** The directory of the real server scripts (rabbitmq-server, rabbitmqctl, rabbitmq-env), not a wrapper's. */
  scripts: string;
  epmd: string;
}

/** Where the RabbitMQ scripts and epmd are, or why they cannot be used. */
export function locateRabbitMqTools(): RabbitMqTools | { missing: string } {
  const executable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const which = (command: string): string | undefined => {
    try {
      return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const onPath = which('rabbitmq-server');
  const candidates = [
    process.env.RABBITMQ_SCRIPTS_DIR,
    // Debian's /usr/sbin scripts switch to the rabbitmq user (and its cookie); the scripts behind them do not.
    '/usr/lib/rabbitmq/bin',
    onPath ? dirname(realpathSync(onPath)) : undefined,
  ].filter((dir): dir is string => Boolean(dir));
  // rabbitmq-env sits next to the real scripts only, never next to a wrapper.
  const scripts = candidates.find((dir) =>
    ['rabbitmq-server', 'rabbitmqctl', 'rabbitmq-env'].every((name) => executable(join(dir, name))),
  );
  if (!scripts) {
    return {
      missing:
        'rabbitmq-server is not installed (looked in ' +
        `${candidates.length > 0 ? candidates.join(', ') : 'PATH'}; set RABBITMQ_SCRIPTS_DIR to its sbin directory)`,
    };
  }
  const epmd = [which('epmd'), '/usr/lib/erlang/bin/epmd'].find((path) => path && executable(path));
  if (!epmd) return { missing: 'epmd (Erlang) is not installed' };
  return { scripts, epmd };
}

export interface ClusterNode {
  /** `rmq-test-a@localhost` */
  name: string;
  amqpPort: number;
  distPort: number;
  /** `amqp://guest:guest@127.0.0.1:<amqpPort>` */
  url: string;
  dir: string;
  /** The process of the running node (its process group holds the Erlang VM), or undefined while it is down. */
  process: ChildProcess | undefined;
}

export interface QueueReplicas {
  leader: string;
  members: string[];
  online: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Process groups still running when the test process exits are killed then, whatever happened before. */
const running = new Set<number>();
process.on('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

export class LocalRabbitMqCluster {
  private stopped = false;

  private constructor(
    private readonly tools: RabbitMqTools,
    readonly dir: string,
    readonly nodes: ClusterNode[],
    private readonly epmdPort: number,
    private readonly epmd: ChildProcess,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Boots `size` nodes at once and joins them to the first (`stop_app`, `join_cluster`, `start_app`). On failure
   * everything it started is stopped before the error is thrown.
   */
  static async start(
    tools: RabbitMqTools,
    { size = 3, log = () => undefined }: { size?: number; log?: (line: string) => void } = {},
  ): Promise<LocalRabbitMqCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-cluster-'));
    mkdirSync(join(dir, 'home'));
    writeFileSync(join(dir, 'home', '.erlang.cookie'), randomBytes(20).toString('hex').toUpperCase(), { mode: 0o600 });
    // No plugin (no management UI), and no settings of the machine's server: an empty env file.
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    const epmdPort = await freePort();
    const epmd = spawn(tools.epmd, ['-port', String(epmdPort), '-address', '127.0.0.1'], {
      stdio: 'ignore',
      detached: true,
    });
    running.add(epmd.pid!);
    const letters = 'abcdefghij';
    const nodes: ClusterNode[] = [];
    for (let index = 0; index < size; index++) {
      const amqpPort = await freePort();
      const distPort = await freePort();
      const nodeDir = join(dir, letters[index]!);
      mkdirSync(nodeDir);
      writeFileSync(
        join(nodeDir, 'rabbitmq.conf'),
        [`listeners.tcp.local = 127.0.0.1:${amqpPort}`, 'log.file.level = info', 'log.console = false', ''].join('\n'),
      );
      nodes.push({
        name: `rmq-test-${letters[index]}@localhost`,
        amqpPort,
        distPort,
        url: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
        dir: nodeDir,
        process: undefined,
      });
    }
    const cluster = new LocalRabbitMqCluster(tools, dir, nodes, epmdPort, epmd, log);
    try {
      await cluster.waitForEpmd();
      for (const node of nodes) cluster.spawnNode(node);
      await Promise.all(nodes.map((node) => cluster.awaitStartup(node)));
      const [first, ...rest] = nodes;
      for (const node of rest) {
        await cluster.ctl(node, ['stop_app']);
        await cluster.ctl(node, ['join_cluster', first!.name]);
        await cluster.ctl(node, ['start_app']);
        await cluster.awaitStartup(node);
      }
      const running = await cluster.runningNodes(first!);
      if (running.length !== size) throw new Error(`the cluster has ${running.length} running nodes, not ${size}`);
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  node(name: string): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (!node) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  /** A node that is running, to ask about the cluster. */
  aliveNode(except?: ClusterNode): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.process && candidate !== except);
    if (!node) throw new Error('no node of the cluster is running');
    return node;
  }

  /** Runs rabbitmqctl (or another CLI tool of the scripts directory) against `node`. */
  ctl(node: ClusterNode, args: string[], { tool = 'rabbitmqctl', timeoutMs = 60_000 } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        join(this.tools.scripts, tool),
        ['-n', node.name, ...args],
        { env: this.env(), timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`${tool} -n ${node.name} ${args.join(' ')}: ${error.message} ${stderr}`.trim()));
          else resolve(stdout);
        },
      );
    });
  }

  async runningNodes(via: ClusterNode): Promise<string[]> {
    const status = JSON.parse(await this.ctl(via, ['cluster_status', '--formatter', 'json'])) as {
      running_nodes?: string[];
    };
    return status.running_nodes ?? [];
  }

  /** Leader, members and online members of every queue, asked of a running node. */
  async queues(via: ClusterNode = this.aliveNode()): Promise<Map<string, QueueReplicas>> {
    const rows = JSON.parse(
      await this.ctl(via, ['list_queues', '--formatter', 'json', 'name', 'leader', 'members', 'online']),
    ) as Array<{ name: string; leader: string; members: string[] | string; online: string[] | string }>;
    const list = (value: string[] | string): string[] => (Array.isArray(value) ? value : []);
    return new Map(
      rows.map((row) => [row.name, { leader: row.leader, members: list(row.members), online: list(row.online) }]),
    );
  }

  /** `kill -9` of the node's whole process group (the script and its Erlang VM); resolves once it has exited. */
  async kill(node: ClusterNode): Promise<void> {
    const child = node.process;
    if (!child) return;
    node.process = undefined;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await exited;
    running.delete(child.pid!);
    this.log(`killed ${node.name} (process group ${child.pid})`);
  }

  /** Starts a node that was killed, on its own data; resolves once it runs and is back in the cluster. */
  async restart(node: ClusterNode): Promise<void> {
    if (node.process) return;
    this.spawnNode(node);
    await this.awaitStartup(node);
  }

  /** Kills every node and the epmd it started, then removes the directory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const node of this.nodes) await this.kill(node);
    const epmd = this.epmd;
    if (epmd.exitCode === null && epmd.signalCode === null) {
      const exited = new Promise<void>((resolve) => epmd.once('exit', () => resolve()));
      try {
        process.kill(epmd.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await Promise.race([exited, sleep(5_000)]);
    }
    running.delete(epmd.pid!);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last lines a node wrote, for a failure's story. */
  tail(node: ClusterNode, lines = 30): string {
    try {
      return readFileSync(join(node.dir, 'stdout.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no output)';
    }
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    // Nothing of the machine's server settings or of the parent's Erlang flags.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('RABBITMQ_') && !name.startsWith('ERL_')),
    );
    return {
      ...inherited,
      HOME: join(this.dir, 'home'),
      ERL_EPMD_PORT: String(this.epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      // The CLI's own distribution ports, away from the range the machine's rabbitmqctl uses.
      RABBITMQ_CTL_DIST_PORT_MIN: '35800',
      RABBITMQ_CTL_DIST_PORT_MAX: '35899',
      ...extra,
    };
  }

  private spawnNode(node: ClusterNode): void {
    const output = openSync(join(node.dir, 'stdout.log'), 'a');
    const child = spawn(join(this.tools.scripts, 'rabbitmq-server'), [], {
      env: this.env({
        RABBITMQ_NODENAME: node.name,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(node.amqpPort),
        RABBITMQ_DIST_PORT: String(node.distPort),
        RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(node.dir, 'log'),
        RABBITMQ_PID_FILE: join(node.dir, 'pid'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
        RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
        RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      }),
      // Its own process group, so that a kill reaches the Erlang VM under the script.
      detached: true,
      stdio: ['ignore', output, output],
    });
    closeSync(output);
    running.add(child.pid!);
    child.once('exit', () => running.delete(child.pid!));
    node.process = child;
    this.log(`started ${node.name} (process group ${child.pid}, AMQP ${node.amqpPort}, distribution ${node.distPort})`);
  }

  private async waitForEpmd(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        execFileSync(this.tools.epmd, ['-port', String(this.epmdPort), '-names'], { stdio: 'ignore' });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`epmd did not start on port ${this.epmdPort}: ${String(error)}`);
        await sleep(100);
      }
    }
  }

  /** Until `rabbitmqctl await_startup` succeeds: the node must be up and registered first, so it is retried. */
  private async awaitStartup(node: ClusterNode, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const child = node.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${node.name} exited while starting:\n${this.tail(node)}`);
      }
      try {
        await this.ctl(node, ['await_startup', '--timeout', '30'], { timeoutMs: 40_000 });
        return;
      } catch (error) {
        lastError = error;
        await sleep(300);
      }
    }
    throw new Error(`${node.name} did not start within ${timeoutMs} ms: ${String(lastError)}\n${this.tail(node)}`);
  }
}
