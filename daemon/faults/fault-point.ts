import { writeSync } from 'node:fs';

/**
 * Crash points for tests. BERTH_FAULTS names fault points, comma-separated (e.g.
 * "create-container:after-snapshot"); when berthd reaches an armed one it dies at once with SIGKILL, exactly
 * as a power loss or the OOM killer would end it there, so a test can check what the next start makes of the
 * half-done work. Unset (always, outside the crash tests), faultPoint is a set lookup and nothing else.
 *
 * The names, in the order each operation reaches them:
 *   run-pod:after-pins, run-pod:before-record (pins, network, files and shm all made)
 *   create-container:after-snapshot, create-container:after-spec, create-container:after-shim
 *   remove-container:after-stop, remove-container:after-task-delete, remove-container:after-bundle
 *   pull-image:after-layer, pull-image:before-record
 *   remove-image:after-record
 */
const armed = new Set((process.env['BERTH_FAULTS'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));

export function faultPoint(name: string): void {
  if (!armed.has(name)) return;
  writeSync(2, `${JSON.stringify({ level: 60, time: new Date().toISOString(), pid: process.pid, faultPoint: name, msg: 'BERTH_FAULTS: killing berthd here' })}\n`);
  process.kill(process.pid, 'SIGKILL');
}
