import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, failedPrecondition } from '../../errors/errors.js';
import { RequestWorker } from '../../linux/request-worker.js';
import { isObject } from './cni-config.js';
import { cniExecWorkerMain, type PluginRun, type PluginRunReply } from './cni-exec-worker.js';

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

let worker: RequestWorker<Omit<PluginRun, 'seq'>, PluginRunReply> | undefined;

/** The plugin thread, started at the first plugin run and again after one that died. */
function pluginWorker(): RequestWorker<Omit<PluginRun, 'seq'>, PluginRunReply> {
  worker ??= new RequestWorker<Omit<PluginRun, 'seq'>, PluginRunReply>(cniExecWorkerMain, undefined, 'CNI plugin', () => {
    worker = undefined;
  });
  return worker;
}

/**
 * Runs one plugin once, on the plugin thread (cni-exec-worker.ts says why): config on stdin, CNI_* in the
 * environment (on top of the daemon's, as libcni does, so plugins find iptables/ip in PATH). Resolves to the
 * parsed stdout, or undefined when the plugin printed nothing (normal for DEL and CHECK). The daemon only pipes
 * bytes; the work happens in the plugin's process.
 */
export async function execPlugin(plugin: string, binary: string, invocation: CniInvocation, config: Record<string, unknown>): Promise<unknown> {
  const fail = (detail: string, code?: number) => new CniPluginError(plugin, invocation.command, invocation.containerId, detail, code);
  const env = {
    ...process.env,
    CNI_COMMAND: invocation.command,
    CNI_CONTAINERID: invocation.containerId,
    CNI_NETNS: invocation.netns,
    CNI_IFNAME: invocation.ifName,
    CNI_ARGS: invocation.args,
    CNI_PATH: invocation.binDirs.join(':'),
  };
  const r = await pluginWorker().request({ binary, env, stdin: JSON.stringify(config), timeoutMs: invocation.timeoutMs });
  if ('spawnError' in r) throw fail(`could not run ${binary}: ${r.spawnError}`);
  if (r.timedOut) throw fail(`no answer within ${invocation.timeoutMs} ms; killed`);
  const out = r.stdout.trim();
  const errText = r.stderr.trim();
  let parsed: unknown;
  try {
    parsed = out === '' ? undefined : JSON.parse(out);
  } catch {
    parsed = undefined;
  }
  if (r.status === 0) {
    if (out !== '' && parsed === undefined) throw fail(`printed output that is not JSON: ${out.slice(0, 200)}`);
    return parsed;
  }
  if (isObject(parsed) && typeof parsed['msg'] === 'string') {
    const code = typeof parsed['code'] === 'number' ? parsed['code'] : undefined;
    const details = typeof parsed['details'] === 'string' && parsed['details'] !== '' ? `: ${parsed['details']}` : '';
    throw fail(`${code === undefined ? '' : `[code ${code}] `}${parsed['msg']}${details}`, code);
  }
  const how = r.signal === null ? `exit status ${r.status}` : `killed by ${r.signal}`;
  throw fail(`${how}${errText === '' ? '' : `: ${errText.slice(0, 500)}`}${out === '' ? '' : `; stdout: ${out.slice(0, 200)}`}`);
}
