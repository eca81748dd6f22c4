/**
 * How the first attempt of a background start went: connected, or not yet and why. Either way the transport keeps
 * trying until it is closed, and tells its connection listeners when it connects.
 */
export type BackgroundConnectResult = { connected: true } | { connected: false; reason: Error };
