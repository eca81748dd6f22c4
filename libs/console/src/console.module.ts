import {
  Inject,
  Module,
  type MiddlewareConsumer,
  type NestModule,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { AdminController } from './admin/admin.controller';
import { AuditController } from './audit/audit.controller';
import { AuditLog } from './audit/audit-log.service';
import { RefusalAudit } from './audit/refusal-audit.service';
import { AuthController } from './auth/auth.controller';
import { BacklogController } from './backlog/backlog.controller';
import { BacklogMoveTracker } from './backlog/backlog-move-tracker';
import { BacklogPageController } from './backlog/backlog-page.controller';
import { BacklogService } from './backlog/backlog.service';
import { AuthService } from './auth/auth.service';
import { ConsoleAuthGuard } from './auth/console-auth.guard';
import { LoginThrottle } from './auth/login-throttle.service';
import { PasswordCheckGate } from './auth/password-check-gate.service';
import { SessionService } from './auth/session.service';
import { UserDirectory } from './auth/user-directory.service';
import { CONSOLE_MODULE_CLASS, CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS, CONSOLE_STORE } from './console.constants';
import { CONSOLE_MODULE_OPTIONS, ReliableMqConsoleConfigurableModule } from './console.module-definition';
import type { ReliableMqConsoleOptions } from './console-options.interface';
import { resolveConsoleOptions, type ResolvedConsoleOptions } from './console-options.resolver';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { DeadLettersService } from './dead-letters/dead-letters.service';
import { BodyReaderMiddleware } from './http/body-reader.middleware';
import { BrokerReachability } from './http/broker-reachability.service';
import { securityHeadersFor } from './http/security-headers.middleware';
import { JobsController } from './jobs/jobs.controller';
import { RetryJobService } from './jobs/retry-job.service';
import { OpenApiController } from './openapi/openapi.controller';
import { OutboxController } from './outbox/outbox.controller';
import { OutboxService } from './outbox/outbox.service';
import { MetricsSampler } from './overview/metrics-sampler.service';
import { OverviewController } from './overview/overview.controller';
import { OverviewService } from './overview/overview.service';
import { PayloadRedactor } from './redaction/payload-redactor';
import { RevealGrants } from './redaction/reveal-grants.service';
import { ConsoleSettingsService } from './settings/console-settings.service';
import { ConsumerCatalog } from './sources/consumer-catalog.service';
import { ConsoleStore } from './store/console-store';
import { TransactionsController } from './transactions/transactions.controller';
import { TransactionsService } from './transactions/transactions.service';
import { ConsoleAssets } from './pages/console-assets';
import { PageExceptionFilter } from './pages/page-exception.filter';
import { PageContexts } from './pages/page-contexts.service';
import { PagesController } from './pages/pages.controller';
import { AdminPageController } from './admin/admin-page.controller';
import { AuditPageController } from './audit/audit-page.controller';
import { DeadLettersPageController } from './dead-letters/dead-letters-page.controller';
import { OutboxPageController } from './outbox/outbox-page.controller';
import { TransactionsPageController } from './transactions/transactions-page.controller';
import { OverviewPageController } from './overview/overview-page.controller';

const controllers = [
  AuthController,
  OverviewController,
  DeadLettersController,
  JobsController,
  OutboxController,
  TransactionsController,
  BacklogController,
  AuditController,
  AdminController,
  OpenApiController,
  // HTML pages: one controller per feature, next to its JSON controller.
  PagesController,
  OverviewPageController,
  DeadLettersPageController,
  OutboxPageController,
  AuditPageController,
  AdminPageController,
  BacklogPageController,
  TransactionsPageController,
];

const providers: Provider[] = [
  {
    provide: CONSOLE_OPTIONS,
    useFactory: (raw: ReliableMqConsoleOptions) => resolveConsoleOptions(raw),
    inject: [CONSOLE_MODULE_OPTIONS],
  },
  {
    provide: CONSOLE_STORE,
    useFactory: (options: ResolvedConsoleOptions) => new ConsoleStore(options.storeFile),
    inject: [CONSOLE_OPTIONS],
  },
  // A factory, because the class is not defined yet while this list is built.
  { provide: CONSOLE_MODULE_CLASS, useFactory: () => ReliableMqConsoleModule },
  PayloadRedactor,
  RevealGrants,
  BrokerReachability,
  AuditLog,
  RefusalAudit,
  ConsoleSettingsService,
  UserDirectory,
  SessionService,
  LoginThrottle,
  PasswordCheckGate,
  AuthService,
  ConsoleAuthGuard,
  ConsumerCatalog,
  RetryJobService,
  DeadLettersService,
  OutboxService,
  TransactionsService,
  OverviewService,
  BacklogMoveTracker,
  BacklogService,
  MetricsSampler,
  ConsoleAssets,
  PageContexts,
  PageExceptionFilter,
];

/**
 * The compensation console, mountable in any Nest (Express) application:
 *
 *     ReliableMqConsoleModule.forRoot({
 *       path: '/console',
 *       broker: { transport, stats: () => engine.stats() },
 *       services: [{ name: 'orders', dataSource }],
 *       auth: { users: [{ username: 'alice', passwordHash, role: 'operator' }] },
 *       storeFile: 'data/console.sqlite',
 *     })
 *
 * Pages at `<path>`, the JSON API at `<path>/api` (OpenAPI at `<path>/api/openapi.json`). Everything it adds is
 * scoped to its own routes: guards, pipes, body limit and security headers never touch the host's other routes.
 */
@Module({ controllers, providers: [...providers] })
export class ReliableMqConsoleModule
  extends ReliableMqConsoleConfigurableModule
  implements NestModule, OnApplicationShutdown
{
  constructor(
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
  ) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    // Ahead of the router rather than on the console's routes: unknown paths and errors raised while a URL is
    // matched (a malformed one) get the headers too. Registered while modules are configured, so it precedes the
    // routes and every route middleware.
    const prefix = (): string => this.appConfig.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
    this.adapterHost.httpAdapter.use(securityHeadersFor(() => `/${[prefix(), this.mount].filter(Boolean).join('/')}`));
    consumer.apply(BodyReaderMiddleware).forRoutes(...controllers);
  }

  onApplicationShutdown(): void {
    this.store.close();
  }
}
