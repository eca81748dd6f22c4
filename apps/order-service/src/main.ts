// The order service as its own process, against the standalone broker: BROKER_URL, BROKER_TOKEN, ORDER_PORT
// (default 3001), HOST (default 127.0.0.1), DATABASE_FILE (default ./data/orders.sqlite). Or on RabbitMQ with
// PostgreSQL: RABBITMQ_URL, RABBITMQ_PREFIX, DATABASE_URL (schema `order_service`). `npm start` starts it next to the
// broker (or on RabbitMQ) and the payment service; see docs/sample.md. Telemetry: GET /metrics, GET /health/live,
// /health/ready and /health/outbox (OUTBOX_MAX_AGE), traces with OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT=json for JSON
// log lines; see docs/observability.md.
import './telemetry';
import 'reflect-metadata';
import { runServiceProcess, serviceProcessBackend } from '../../shared/src/service-process';
import { createOrderServiceApp } from './order-service.app';

runServiceProcess({
  name: 'order service',
  portVariable: 'ORDER_PORT',
  defaultPort: 3001,
  defaultDatabaseFile: 'data/orders.sqlite',
  start: (settings) =>
    createOrderServiceApp({
      ...settings,
      ...serviceProcessBackend(`order-service:${process.pid}`),
    }),
});
