/**
 * The sub-protocols of Kubernetes streaming (k8s.io/apimachinery remotecommand and portforward), as kubelet,
 * kubectl and crictl name them. SPDY clients offer versions in X-Stream-Protocol-Version headers; WebSocket
 * clients in Sec-WebSocket-Protocol. The client's order of preference wins, as in apimachinery's handshake.
 */
export const STREAM_PROTOCOL_HEADER = 'x-stream-protocol-version';
export const ACCEPTED_PROTOCOLS_HEADER = 'X-Accepted-Stream-Protocol-Versions';

/** remotecommand over SPDY, newest first; v5 exists only over WebSocket. */
export const REMOTECOMMAND_SPDY = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
/** remotecommand over WebSocket (binary channel framing). */
export const REMOTECOMMAND_WEBSOCKET = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
export const PORTFORWARD_SPDY = ['portforward.k8s.io'] as const;
/** Port-forward over WebSocket: the v4 channel framing, or the bare framing with no sub-protocol (""). */
export const PORTFORWARD_WEBSOCKET = ['v4.channel.k8s.io', 'portforward.k8s.io', ''] as const;

/** What a remotecommand version can do. */
export interface RemoteCommandVersion {
  /** 1 (channel.k8s.io) to 5. */
  version: number;
  /** v3+: a resize stream/channel for the terminal size. */
  resize: boolean;
  /** v4+: the error stream carries a metav1.Status as JSON; before, the failure text. */
  jsonStatus: boolean;
  /** v5 (WebSocket): the client may close a channel (stdin) with a close signal. */
  closeSignal: boolean;
}

export function remoteCommandVersion(protocol: string): RemoteCommandVersion {
  const version = protocol === 'channel.k8s.io' ? 1 : Number(/^v(\d)\./.exec(protocol)?.[1] ?? 1);
  return { version, resize: version >= 3, jsonStatus: version >= 4, closeSignal: version >= 5 };
}

/** The first protocol the client offers that the server speaks, or undefined. */
export function negotiate(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}

/** Header values as a list: repeated headers and comma-separated lists both count. */
export function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}
