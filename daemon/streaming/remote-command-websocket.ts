import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { remoteCommandVersion } from './protocols.js';
import { runRemoteCommand, type RemoteCommandRequest, type RemoteCommandRuntime } from './remote-command.js';
import type { KubeStatus } from './status.js';

/** Channel numbers of the Kubernetes WebSocket framing: the first byte of every binary message. */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** A writable that sends each chunk as one message on `channel`. */
export function channelWriter(ws: WebSocket, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (ws.readyState !== ws.OPEN) return callback();
      ws.send(Buffer.concat([Buffer.from([channel]), chunk]), { binary: true }, (err) => callback(err ?? undefined));
    },
  });
}

/**
 * remotecommand over WebSocket (channel.k8s.io to v5.channel.k8s.io, binary framing): stdin on channel 0,
 * stdout 1, stderr 2, the final status on 3, terminal sizes on 4; v5 clients close stdin with [255, 0].
 * As kubelet does, an empty message on the first output channel tells the client the session is up.
 */
export function serveRemoteCommandWebSocket(
  ws: WebSocket,
  protocol: string,
  request: RemoteCommandRequest,
  deps: { runtime: RemoteCommandRuntime; logger: Logger; gone: AbortSignal },
): void {
  const version = remoteCommandVersion(protocol);
  const log = deps.logger.child({ container: request.containerId, protocol });
  const stdin = request.stdin ? new PassThrough() : null;
  const resize = request.tty && version.resize ? new PassThrough() : null;
  const stdout = request.stdout ? channelWriter(ws, CHANNEL.stdout) : null;
  const stderr = request.stderr ? channelWriter(ws, CHANNEL.stderr) : null;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const payload = data.subarray(1);
    if (data[0] === CHANNEL.stdin) stdin?.write(payload);
    else if (data[0] === CHANNEL.resize) resize?.write(payload);
    else if (data[0] === CHANNEL.close && version.closeSignal && payload[0] === CHANNEL.stdin) stdin?.end();
  });
  const ready = stdout !== null ? CHANNEL.stdout : stderr !== null ? CHANNEL.stderr : CHANNEL.error;
  ws.send(Buffer.from([ready]), { binary: true });
  const finish = (status: KubeStatus): void => {
    const text = version.jsonStatus ? JSON.stringify(status) : status.status === 'Success' ? '' : (status.message ?? '');
    const close = (): void => ws.close(1000);
    const sendStatus = (): void => {
      if (text === '') close();
      else ws.send(Buffer.concat([Buffer.from([CHANNEL.error]), Buffer.from(text)]), { binary: true }, close);
    };
    // The status goes last, after every output chunk already queued.
    let pending = [stdout, stderr].filter((w): w is Writable => w !== null).length;
    if (pending === 0) sendStatus();
    for (const w of [stdout, stderr]) w?.end(() => --pending === 0 && sendStatus());
  };
  runRemoteCommand(request, { stdin, stdout, stderr, resize, finish, gone: deps.gone }, deps.runtime, log).catch((err: unknown) => {
    log.error({ err }, `${request.kind} session failed`);
    ws.terminate();
  });
}
