// The first import of main.ts: ReliableMQ takes the meter and tracer providers registered when it loads, so they are
// registered before Nest and ReliableMQ are (see apps/shared/src/telemetry.ts).
import { startTelemetryOrExit } from '../../shared/src/telemetry';

startTelemetryOrExit('payment-service', 'payment service');
