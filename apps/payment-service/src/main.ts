// The payment service as its own process, against the standalone broker: BROKER_URL, BROKER_TOKEN, PAYMENT_PORT
// (default 3002), HOST (default 127.0.0.1), DATABASE_FILE (default ./data/payments.sqlite), PAYMENT_RETRY_DELAYS,
// OPS_TOKEN (the token POST /ops/... requires; without it they answer 403). Or
// on RabbitMQ with PostgreSQL: RABBITMQ_URL, RABBITMQ_PREFIX, DATABASE_URL (schema `payment_service`). `npm start`
// starts it next to the broker (or on RabbitMQ) and the order service; see docs/sample.md. Telemetry: GET /metrics,
// GET /health/live, /health/ready and /health/outbox (OUTBOX_MAX_AGE), traces with OTEL_EXPORTER_OTLP_ENDPOINT,
// LOG_FORMAT=json for JSON log lines; see docs/observability.md.
import './telemetry';
import 'reflect-metadata';
import { runServiceProcess, serviceProcessBackend } from '../../shared/src/service-process';
import { createPaymentServiceApp } from './payment-service.app';

/** Explicit levels start at the first one; the broker's default levels would start at 10 s. */
const DEFAULT_RETRY_DELAYS = '1s 5s 10s 30s 1m 2m 5m 10m 30m 1h';

runServiceProcess({
  name: 'payment service',
  portVariable: 'PAYMENT_PORT',
  defaultPort: 3002,
  defaultDatabaseFile: 'data/payments.sqlite',
  start: (settings) =>
    createPaymentServiceApp({
      ...settings,
      ...serviceProcessBackend(`payment-service:${process.pid}`),
      retryDelays: process.env.PAYMENT_RETRY_DELAYS?.trim() || DEFAULT_RETRY_DELAYS,
      opsToken: process.env.OPS_TOKEN?.trim() || undefined,
    }),
});
