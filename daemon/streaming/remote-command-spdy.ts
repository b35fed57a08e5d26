import type { SpdyStream } from 'spdy-transport';
import type { Logger } from '../logging/logger.js';
import { remoteCommandVersion } from './protocols.js';
import { runRemoteCommand, type RemoteCommandRequest, type RemoteCommandRuntime } from './remote-command.js';
import { acceptStreams, type SpdySession } from './spdy-session.js';
import type { KubeStatus } from './status.js';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * remotecommand over SPDY: the client opens one stream per stdio it asked for, plus `error` and (tty, v3+)
 * `resize`, each named by its `streamType` header. The server waits for exactly that set, within
 * `creationTimeoutMs`, then runs the command; a missing, unknown or doubled stream ends the connection.
 */
export function serveRemoteCommandSpdy(
  session: SpdySession,
  request: RemoteCommandRequest,
  deps: { runtime: RemoteCommandRuntime; logger: Logger; creationTimeoutMs: number; gone: AbortSignal },
): void {
  const version = remoteCommandVersion(session.protocol);
  const expected = new Set<StreamType>(['error']);
  if (request.stdin) expected.add('stdin');
  if (request.stdout) expected.add('stdout');
  if (request.stderr) expected.add('stderr');
  if (request.tty && version.resize) expected.add('resize');
  const streams = new Map<StreamType, SpdyStream>();
  const log = deps.logger.child({ container: request.containerId, protocol: session.protocol });

  const timer = setTimeout(() => {
    log.info({ missing: [...expected].filter((t) => !streams.has(t)) }, `${request.kind}: the client did not open its streams in time`);
    session.close();
  }, deps.creationTimeoutMs);
  timer.unref();
  deps.gone.addEventListener('abort', () => clearTimeout(timer), { once: true });

  acceptStreams(session.conn, (stream) => {
    const type = stream.headers.streamtype as StreamType;
    if (!expected.has(type) || streams.has(type)) {
      log.info({ streamType: type }, `${request.kind}: unexpected stream; closing the connection`);
      clearTimeout(timer);
      session.close();
      return false;
    }
    streams.set(type, stream);
    if (streams.size === expected.size) {
      clearTimeout(timer);
      // Defers the start until the SYN_REPLY of the last stream is on its way.
      setImmediate(() => start());
    }
    return true;
  });

  const start = (): void => {
    const error = streams.get('error')!;
    const outputs = [streams.get('stdout'), streams.get('stderr')];
    const finish = (status: KubeStatus): void => {
      for (const out of outputs) out?.end();
      streams.get('stdin')?.end();
      streams.get('resize')?.end();
      if (version.jsonStatus) error.end(JSON.stringify(status));
      else error.end(status.status === 'Success' ? undefined : status.message);
      // GOAWAY only once every FIN is out: spdy-transport writes it ahead of queued data frames, and a
      // spdystream client that sees it first drops the status and exits 0.
      session.closeAfter([error, ...outputs].filter((s): s is SpdyStream => s !== undefined));
    };
    runRemoteCommand(
      request,
      {
        stdin: streams.get('stdin') ?? null,
        stdout: streams.get('stdout') ?? null,
        stderr: streams.get('stderr') ?? null,
        resize: streams.get('resize') ?? null,
        finish,
        gone: deps.gone,
      },
      deps.runtime,
      log,
    ).catch((err: unknown) => {
      log.error({ err }, `${request.kind} session failed`);
      session.close();
    });
  };
}
