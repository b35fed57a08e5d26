import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, failedPrecondition } from '../../errors/errors.js';
import { isObject } from './cni-config.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

export interface CniInvocation {
  command: CniCommand;
  containerId: string;
  /** Pin path of the pod's netns; empty on DEL when it is already gone, as the spec allows. */
  netns: string;
  ifName: string;
  /** CNI_ARGS: `K=V;K=V`. */
  args: string;
  binDirs: string[];
  timeoutMs: number;
}

/** A plugin that ran and failed: its CNI error (code, msg, details) or, failing that, its stderr and exit status. */
export class CniPluginError extends BerthError {
  readonly plugin: string;
  readonly command: CniCommand;
  /** The CNI error code (spec: 1-99 well-known, 100+ plugin-specific); undefined when the plugin printed none. */
  readonly code: number | undefined;

  constructor(plugin: string, command: CniCommand, containerId: string, detail: string, code?: number) {
    super('Internal', `CNI plugin "${plugin}" ${command} for sandbox ${containerId} failed: ${detail}`, {
      context: { plugin, command, containerId, cniCode: code },
    });
    this.plugin = plugin;
    this.command = command;
    this.code = code;
  }
}

/** Finds the executable of plugin `type` in the first of `binDirs` that has it, as libcni's FindInPath does. */
export async function findPlugin(type: string, binDirs: string[]): Promise<string> {
  if (type.includes('/')) throw failedPrecondition(`CNI plugin type ${JSON.stringify(type)} must be a plain name, not a path`, { type });
  for (const dir of binDirs) {
    const candidate = join(dir, type);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    }
  }
  throw failedPrecondition(
    `CNI plugin "${type}" not found in bin_dirs ${binDirs.join(', ')}; install it there or fix [cri.cni] bin_dirs`,
    { type, binDirs },
  );
}

/**
 * Runs one plugin once: config on stdin, CNI_* in the environment (on top of the daemon's, as libcni does, so
 * plugins find iptables/ip in PATH). Resolves to the parsed stdout, or undefined when the plugin printed nothing
 * (normal for DEL and CHECK). The daemon only pipes bytes; the work happens in the plugin's process.
 */
export function execPlugin(plugin: string, binary: string, invocation: CniInvocation, config: Record<string, unknown>): Promise<unknown> {
  const fail = (detail: string, code?: number) => new CniPluginError(plugin, invocation.command, invocation.containerId, detail, code);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], {
      env: {
        ...process.env,
        CNI_COMMAND: invocation.command,
        CNI_CONTAINERID: invocation.containerId,
        CNI_NETNS: invocation.netns,
        CNI_IFNAME: invocation.ifName,
        CNI_ARGS: invocation.args,
        CNI_PATH: invocation.binDirs.join(':'),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, invocation.timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(fail(`could not run ${binary}: ${err.message}`));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(fail(`no answer within ${invocation.timeoutMs} ms; killed`));
        return;
      }
      const out = Buffer.concat(stdout).toString('utf8').trim();
      const errText = Buffer.concat(stderr).toString('utf8').trim();
      let parsed: unknown;
      try {
        parsed = out === '' ? undefined : JSON.parse(out);
      } catch {
        parsed = undefined;
      }
      if (status === 0) {
        if (out !== '' && parsed === undefined) reject(fail(`printed output that is not JSON: ${out.slice(0, 200)}`));
        else resolve(parsed);
        return;
      }
      if (isObject(parsed) && typeof parsed['msg'] === 'string') {
        const code = typeof parsed['code'] === 'number' ? parsed['code'] : undefined;
        const details = typeof parsed['details'] === 'string' && parsed['details'] !== '' ? `: ${parsed['details']}` : '';
        reject(fail(`${code === undefined ? '' : `[code ${code}] `}${parsed['msg']}${details}`, code));
        return;
      }
      const how = signal === null ? `exit status ${status}` : `killed by ${signal}`;
      reject(fail(`${how}${errText === '' ? '' : `: ${errText.slice(0, 500)}`}${out === '' ? '' : `; stdout: ${out.slice(0, 200)}`}`));
    });
    // A plugin that exits without reading stdin makes the write fail with EPIPE; its exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(config));
  });
}
