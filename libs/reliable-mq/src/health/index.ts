// @reliable-mq/nestjs/health: ReliableMQ's checks as @nestjs/terminus indicators. Only this entry point's typings
// name terminus; the package's main entry does not, so applications without terminus need nothing of it.
export { ReliableMqHealthIndicator } from './reliable-mq-health.indicator';
export { ReliableMqHealthModule } from './reliable-mq-health.module';
export { ReliableMqHealth, type ReliableMqHealthReport } from './reliable-mq-health.service';
