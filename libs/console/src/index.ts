// The ReliableMQ compensation console. Grouped by who uses what.

// --- mounting it
export { ReliableMqConsoleModule } from './console.module';
export { CONSOLE_ASYNC_OPTIONS_TYPE, CONSOLE_OPTIONS_TYPE } from './console.module-definition';
export {
  CONSOLE_PERMISSIONS,
  CONSOLE_ROLES,
  type ConsoleAuthOptions,
  type ConsoleBrokerSource,
  type ConsoleBulkRetryOptions,
  type ConsoleConsumerInfo,
  type ConsoleLoginRateLimit,
  type ConsolePermission,
  type ConsoleRole,
  type ConsoleSamplingOptions,
  type ConsoleServiceDatabase,
  type ConsoleTokenConfig,
  type ConsoleUserConfig,
  type ReliableMqConsoleOptions,
} from './console-options.interface';
export { DEFAULT_MOUNT_PATH } from './console-options.resolver';
export type {
  BacklogMoveProgress,
  ConsoleBacklogEntry,
  ConsoleBacklogReport,
  ConsoleBacklogSource,
} from './backlog/backlog-source.interface';
export { engineBacklogSource } from './backlog/engine-backlog-source';
export {
  rabbitMqBacklogSource,
  type RabbitMqBacklogReader,
  type RabbitMqBacklogRow,
} from './backlog/rabbitmq-backlog-source';

// --- describing the services it operates
export {
  dedupWindowOf,
  describeReliableMqApp,
  mergeCatalogs,
  type ReliableMqAppCatalog,
} from './sources/reliable-mq-app.catalog';

// --- credentials
export { hashConsolePassword, verifyConsolePassword } from './auth/password-hash';
export { hashConsoleToken, newConsoleToken } from './auth/console-token';

// --- operating: services a host app may call directly (e.g. in its own tests or scripts)
export { AuditLog, type AuditEntry, type AuditQuery } from './audit/audit-log.service';
export { MetricsSampler } from './overview/metrics-sampler.service';
export { RetryJobService, type RetryJobView } from './jobs/retry-job.service';
