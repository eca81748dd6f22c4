/** What the transport logs through; Nest's Logger fits. */
export interface RabbitMqLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
