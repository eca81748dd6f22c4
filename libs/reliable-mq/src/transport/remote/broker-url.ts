import { BROKER_URL_SCHEME, DEFAULT_BROKER_PORT } from '@reliable-mq/protocol';

export interface BrokerAddress {
  host: string;
  port: number;
}

/**
 * Reads `reliable-mq://host:port` (port 7420 when absent; IPv6 hosts in brackets). Returns a sentence saying what is
 * wrong instead of throwing, so option checks can collect it.
 */
export function parseBrokerUrl(raw: string): BrokerAddress | { problem: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: `${JSON.stringify(raw)} is not a URL; use reliable-mq://host:${DEFAULT_BROKER_PORT}.` };
  }
  if (url.protocol !== BROKER_URL_SCHEME) {
    return {
      problem: `the URL must start with reliable-mq://, e.g. reliable-mq://127.0.0.1:${DEFAULT_BROKER_PORT}; got ${url.protocol}//.`,
    };
  }
  if (url.username !== '' || url.password !== '') {
    return { problem: 'put the token in `token` (or BROKER_TOKEN), not in the URL, where logs would show it.' };
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    return {
      problem: `the URL takes only a host and a port, e.g. reliable-mq://broker.internal:${DEFAULT_BROKER_PORT}.`,
    };
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') return { problem: 'the URL has no host.' };
  const port = url.port === '' ? DEFAULT_BROKER_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return { problem: `port ${url.port} is not a TCP port.` };
  return { host, port };
}
