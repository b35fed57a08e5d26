/**
 * The Kubernetes metav1.Status a remotecommand session ends with (protocol v4 and later, SPDY and WebSocket):
 * kubectl and crictl read it from the error stream to learn the exit code. Older protocols (v1-v3) carry the
 * failure message as plain text instead, and nothing on success.
 */
export interface KubeStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: Array<{ reason: string; message: string }> };
}

export function successStatus(): KubeStatus {
  return { metadata: {}, status: 'Success' };
}

/** client-go turns this into an exit error carrying `exitCode` (kubectl and crictl exit with it). */
export function exitCodeStatus(exitCode: number, command: readonly string[]): KubeStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: command ${JSON.stringify(command.join(' '))} exited with ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** A failure that is not the process's own exit (it could not start, the container went away). */
export function internalErrorStatus(message: string): KubeStatus {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500, details: { causes: [{ reason: '', message }] } };
}
