import { MissingDependencyError, loadOptionalDependency } from '@reliable-mq/engine';
import type * as OpenTelemetryApi from '@opentelemetry/api';

/** @internal */
export type OpenTelemetryApiModule = typeof OpenTelemetryApi;

let loaded: OpenTelemetryApiModule | null | undefined;

/**
 * `@opentelemetry/api` when the application has it, else undefined: tracing and metrics are optional, so its absence
 * turns them off instead of failing the start. Resolved once per process, like the API's own global registrations.
 * @internal
 */
export function openTelemetryApi(): OpenTelemetryApiModule | undefined {
  if (loaded === undefined) {
    try {
      loaded = loadOptionalDependency<OpenTelemetryApiModule>('@opentelemetry/api', 'Tracing and metrics', () =>
        require('@opentelemetry/api'),
      );
    } catch (error) {
      if (!(error instanceof MissingDependencyError)) throw error;
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
