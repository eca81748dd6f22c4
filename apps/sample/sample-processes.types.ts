import type { BrokerRestartLimits } from './broker-restart-policy';

/** The standalone console as a fourth process (apps/console), connected to the broker process. */
export interface SampleProcessesConsoleOptions {
  /** 0 picks a free port. */
  port: number;
  /** CONSOLE_USERS_FILE of the console: the demo login. */
  usersFile: string;
}

/** What the broker supervisor reports while it restarts a broker process that died on its own. */
export type BrokerRestartEvent =
  | {
      kind: 'exited';
      code: number | null;
      signal: NodeJS.Signals | null;
      /** The wait before the restart. */
      delayMs: number;
      /** 1-based, over the whole run. */
      count: number;
    }
  /** A restarted broker ended or stalled before it was ready; its exit counts like any other. */
  | { kind: 'start-failed'; message: string; count: number }
  | { kind: 'back'; url: string; pid: number; count: number };

/** `npm start`'s supervision of the broker: restarted on the same port and data when it dies on its own. */
export interface SampleBrokerRestartOptions {
  limits: BrokerRestartLimits;
  onEvent(event: BrokerRestartEvent): void;
}

/**
 * The processes of the sample when each part runs on its own against the standalone broker: the broker, the order
 * service, the payment service and, when `console` is given, the compensation console.
 */
export interface SampleProcessesOptions {
  dataDir: string;
  host?: string;
  orderPort: number;
  paymentPort: number;
  /** 0 picks a free port. */
  brokerPort: number;
  /** Default: a random token for this run, handed to the services. */
  brokerToken?: string;
  /** Retry delays of the payment consumer (PAYMENT_RETRY_DELAYS); the payment service's default when absent. */
  retryDelays?: string;
  /** Token of the payment service's resend endpoint (OPS_TOKEN). Default: the one kept in `<dataDir>/ops-token`. */
  opsToken?: string;
  console?: SampleProcessesConsoleOptions;
  /**
   * Restart the broker process whenever it exits other than through `close`, until the limits give up. Absent: the
   * broker's exit settles `childExited` like any other part's.
   */
  brokerRestart?: SampleBrokerRestartOptions;
  /**
   * The services on RabbitMQ with their data in PostgreSQL (each in its own schema, `order_service` and
   * `payment_service`, as in the single-process mode), and the console on RabbitMQ's DLQs: no broker process is
   * started, and the broker settings (`brokerPort`, `brokerToken`, `brokerRestart`) do not apply.
   */
  rabbitmq?: SampleProcessesRabbitMqOptions;
  /** Extra environment for every child (e.g. BROKER_ENGINE_OPTIONS). */
  env?: Record<string, string>;
  /** Where children's output goes, line by line with a prefix. Default: this process's stdout. */
  output?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface SampleProcessesRabbitMqOptions {
  url: string;
  /** A PostgreSQL URL: both services' database. */
  databaseUrl: string;
  /** Prefix of the exchanges and queues. Default `rmq`. */
  prefix?: string;
}

/** How a part of the sample ended on its own; `reason` says why a broker was not restarted again. */
export interface SamplePartExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  reason?: string;
}

export interface SampleProcesses {
  /** Null on RabbitMQ: no broker process. */
  brokerUrl: string | null;
  healthUrl: string | null;
  orderUrl: string;
  paymentUrl: string;
  /** What the payment service's resend endpoint takes as `authorization: Bearer <token>`. */
  opsToken: string;
  /** `http://host:port/console`, when the console was started. */
  consoleUrl: string | null;
  /** The broker's is that of the process running now: a restart changes it. */
  readonly pids: { readonly broker: number | undefined; order: number; payment: number; console?: number };
  /**
   * SIGTERM to the console, then the services, then the broker, each waited for (SIGKILL after a bound). The
   * children run in process groups of their own, so a Ctrl+C in the terminal reaches only this process, which stops
   * them in that order.
   */
  close(): Promise<void>;
  /**
   * Settles when any child exits on its own (not through close); with `brokerRestart`, the broker's exits settle it
   * only once the restart limits give up, with `reason` saying why.
   */
  readonly childExited: Promise<SamplePartExit>;
}
