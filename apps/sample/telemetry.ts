// The first import of start-embedded.ts: ReliableMQ takes the meter and tracer providers registered when it loads (see
// apps/shared/src/telemetry.ts). Both services of this process share them, and each serves the process's metrics.
import { startTelemetryOrExit } from '../shared/src/telemetry';

startTelemetryOrExit('reliable-mq-sample', 'sample');
