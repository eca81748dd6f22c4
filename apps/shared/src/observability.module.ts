import {
  Controller,
  Get,
  Module,
  NotFoundException,
  Req,
  Res,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule, type HealthCheckResult } from '@nestjs/terminus';
import { ReliableMqHealthIndicator, ReliableMqHealthModule } from '@reliable-mq/nestjs/health';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { holdTelemetry, prometheusExporter, releaseTelemetry } from './telemetry';

/** How long the oldest outbox row may wait before `GET /health/outbox` answers 503: OUTBOX_MAX_AGE, default 1 min. */
function outboxMaxAge(): string {
  return process.env.OUTBOX_MAX_AGE?.trim() || '1m';
}

/**
 * `GET /health/live`: 200 while ReliableMQ's relay and consumers run (restart the process otherwise).
 * `GET /health/ready`: 200 while the broker connection is up and the framework's tables are migrated; 503 otherwise.
 * `GET /health/outbox`: 503 once the oldest outbox row has waited longer than OUTBOX_MAX_AGE; for alerting, not for
 * routing, since orders are still taken (into the outbox) while it fails.
 */
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly reliableMq: ReliableMqHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.reliableMq.liveness('reliable-mq')]);
  }

  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.reliableMq.readiness('reliable-mq')]);
  }

  @Get('outbox')
  @HealthCheck()
  outbox(): Promise<HealthCheckResult> {
    return this.health.check([() => this.reliableMq.outboxAge('outbox', { maxAge: outboxMaxAge() })]);
  }
}

/** `GET /metrics`: the OpenTelemetry Prometheus exporter's text, on the service's own HTTP port. */
@Controller('metrics')
class MetricsController {
  @Get()
  scrape(@Req() request: IncomingMessage, @Res() response: ServerResponse): void {
    const exporter = prometheusExporter();
    if (!exporter) throw new NotFoundException('Metrics are served when the service starts from its main.ts.');
    exporter.getMetricsRequestHandler(request, response);
  }
}

/** Keeps the telemetry up while the application runs, and flushes the spans it holds when the application closes. */
class TelemetryLifetime implements OnModuleInit, OnApplicationShutdown {
  onModuleInit(): void {
    holdTelemetry();
  }

  async onApplicationShutdown(): Promise<void> {
    await releaseTelemetry();
  }
}

/** A sample service's health endpoints and metrics; ReliableMqModule (global) must be imported next to it. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), ReliableMqHealthModule],
  controllers: [HealthController, MetricsController],
  providers: [TelemetryLifetime],
})
export class ObservabilityModule {}
