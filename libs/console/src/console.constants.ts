/** Injection tokens of the console. Symbols, so two copies of the library never mix them up. */
export const CONSOLE_OPTIONS = Symbol('RELIABLE_MQ_CONSOLE_OPTIONS');
export const CONSOLE_STORE = Symbol('RELIABLE_MQ_CONSOLE_STORE');
/** The mount path without slashes, e.g. `console`. */
export const CONSOLE_MOUNT_PATH = Symbol('RELIABLE_MQ_CONSOLE_MOUNT_PATH');

export const SESSION_COOKIE = 'rmq_console_session';
export const CSRF_HEADER = 'x-csrf-token';
export const ROLES_METADATA = 'reliable-mq-console:roles';
export const PUBLIC_METADATA = 'reliable-mq-console:public';
export const PERMISSION_METADATA = 'reliable-mq-console:permission';
/** The module class itself, for the OpenAPI document's `include`. */
export const CONSOLE_MODULE_CLASS = Symbol('RELIABLE_MQ_CONSOLE_MODULE_CLASS');
