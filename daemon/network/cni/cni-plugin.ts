import { join } from 'node:path';
import type { BerthConfig } from '../../../config/types.js';
import { BerthError, failedPrecondition, isBerthError } from '../../errors/errors.js';
import { NamespacePins } from '../../linux/namespace-pins.js';
import type { NetworkPlugin, NetworkStatus, PodNetworkRef, PodNetworkResult, PodNetworkSpec } from '../network-plugin.js';
import { CniResultCache, type CniAttachment } from './cni-cache.js';
import { hasCheckAndPrevResultOnDel, loadCniConfig, type CniConfList, type CniPluginConf } from './cni-config.js';
import { CniPluginError, execPlugin, findPlugin, type CniCommand, type CniInvocation } from './cni-exec.js';
import { podNetworkResult, resultProblem, type CniResult } from './cni-result.js';

export interface CniNetworkPluginOptions {
  confDir: string;
  binDirs: string[];
  /** Where ADD results are kept for DEL and CHECK (persistent). */
  cacheDir: string;
  /** How long one plugin invocation may take before it is killed. */
  pluginTimeoutMs?: number;
  /**
   * The node's pod CIDR as kubelet last sent it with UpdateRuntimeConfig ("" until then). Offered to plugins
   * declaring the `ipRanges` capability (host-local), so a config need not hard-code the node's subnet.
   */
  podCidr?: () => string;
}

const IF_NAME = 'eth0';
const DEFAULT_PLUGIN_TIMEOUT_MS = 60_000;

/** The reason CRI's NetworkReady condition carries when not ready (containerd and CRI-O use the same word). */
export const NETWORK_NOT_READY_REASON = 'NetworkPluginNotReady';

export function cniOptionsFromConfig(config: BerthConfig, podCidr?: () => string): CniNetworkPluginOptions {
  return {
    confDir: config.cri.cni.conf_dir,
    binDirs: config.cri.cni.bin_dirs,
    cacheDir: join(config.root, 'cni', 'results'),
    ...(podCidr === undefined ? {} : { podCidr }),
  };
}

/**
 * NetworkPlugin over the standard CNI plugins: ADD runs the config list's plugins in order, each given the
 * previous one's result; DEL runs them in reverse; CHECK in order. The config is re-read from conf_dir for each
 * set-up (so a CNI installed after the daemon started is picked up, as kubelet expects); DEL and CHECK use the
 * config cached at ADD. Calls for one sandbox are serialised; different sandboxes run in parallel.
 *
 * No `loopback` plugin is run: the pod's lo is already up when its netns is handed over (NamespacePins brings it
 * up in-process, as containerd 2.x's CRI does with `use_internal_loopback = true`), so pods get lo whatever the
 * configured network is, and a node needs no loopback binary.
 */
export class CniNetworkPlugin implements NetworkPlugin {
  private readonly cache: CniResultCache;
  private readonly timeoutMs: number;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: CniNetworkPluginOptions) {
    this.cache = new CniResultCache(options.cacheDir);
    this.timeoutMs = options.pluginTimeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
  }

  setUp(pod: PodNetworkSpec): Promise<PodNetworkResult> {
    return this.serialised(pod.id, async () => {
      const config = await loadCniConfig(this.options.confDir);
      const binaries = await this.findAll(config);
      const runtimeConfig = runtimeConfigFor(pod, this.options.podCidr?.() ?? '');
      let result: CniResult | undefined;
      try {
        for (const [index, plugin] of config.plugins.entries()) {
          const output = await this.run('ADD', pod, pod.netnsPath, config, plugin, binaries[index]!, runtimeConfig, result);
          const problem = output === undefined ? 'printed no result' : resultProblem(output);
          if (problem !== undefined) throw new CniPluginError(plugin.type, 'ADD', pod.id, `${problem} (from ${config.source})`);
          result = output as CniResult;
        }
        const finalResult = result ?? {};
        await this.cache.put({ pod: podRef(pod), ifName: IF_NAME, config, runtimeConfig, result: finalResult });
        return podNetworkResult(finalResult);
      } catch (err) {
        const undoFailure = await this.undoFailedAdd(pod, { pod: podRef(pod), ifName: IF_NAME, config, runtimeConfig, result: result ?? {} });
        if (undoFailure === undefined) throw err;
        const kind = err instanceof BerthError ? err.kind : 'Internal';
        const message = err instanceof Error ? err.message : String(err);
        throw new BerthError(kind, `${message}; undoing the partial set-up also failed (tear the sandbox down to retry): ${undoFailure}`, {
          cause: err,
          context: { id: pod.id },
        });
      }
    });
  }

  tearDown(pod: PodNetworkRef): Promise<void> {
    return this.serialised(pod.id, async () => {
      const cached = await this.cache.get(pod.id, IF_NAME);
      let attachment = cached;
      if (attachment === undefined) {
        // Nothing cached: a crash between ADD and the cache write, or a sandbox never set up. DEL with the
        // current config is harmless for the latter; without any config there is nothing berth could undo.
        const config = await loadCniConfig(this.options.confDir).catch((err: unknown) => {
          if (isBerthError(err, 'FailedPrecondition')) return undefined;
          throw err;
        });
        if (config === undefined) return;
        attachment = { pod: podRef(pod), ifName: IF_NAME, config, runtimeConfig: {}, result: {} };
      }
      await this.del(pod, attachment, cached !== undefined);
      await this.cache.delete(pod.id, IF_NAME);
    });
  }

  check(pod: PodNetworkRef): Promise<void> {
    return this.serialised(pod.id, async () => {
      const cached = await this.cache.get(pod.id, IF_NAME);
      if (cached === undefined) throw failedPrecondition(`sandbox ${pod.id} has no CNI attachment to check; it was never set up or was torn down`, { id: pod.id });
      const { config } = cached;
      // CHECK does not exist before spec 0.4.0; a config may also opt out of it.
      if (!hasCheckAndPrevResultOnDel(config.cniVersion) || config.disableCheck) return;
      if (!(await NamespacePins.isPinned(pod.netnsPath))) {
        throw failedPrecondition(`sandbox ${pod.id}: network namespace ${pod.netnsPath} is gone`, { id: pod.id, netns: pod.netnsPath });
      }
      const binaries = await this.findAll(config);
      for (const [index, plugin] of config.plugins.entries()) {
        await this.run('CHECK', pod, pod.netnsPath, config, plugin, binaries[index]!, cached.runtimeConfig, cached.result);
      }
    });
  }

  async attachments(): Promise<PodNetworkRef[]> {
    return (await this.cache.list(IF_NAME)).map((attachment) => attachment.pod);
  }

  async status(): Promise<NetworkStatus> {
    try {
      await this.findAll(await loadCniConfig(this.options.confDir));
      return { ready: true };
    } catch (err) {
      // Any failure (an unreadable conf_dir too) is the node's network being unusable, which kubelet learns
      // from the condition; failing the Status RPC itself would hide the runtime's other conditions.
      return { ready: false, reason: NETWORK_NOT_READY_REASON, message: `network plugin not ready: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async findAll(config: CniConfList): Promise<string[]> {
    return Promise.all(
      config.plugins.map((plugin) =>
        findPlugin(plugin.type, this.options.binDirs).catch((err: unknown) => {
          if (err instanceof BerthError) throw new BerthError(err.kind, `${err.message} (needed by ${config.source})`, { cause: err, context: err.context });
          throw err;
        }),
      ),
    );
  }

  /**
   * DEL of every plugin in reverse order. Each plugin runs even if a later one failed (CNI DEL is best-effort
   * per plugin and must be idempotent), and the first failure is reported so kubelet retries the tear-down.
   */
  private async del(pod: PodNetworkRef, attachment: CniAttachment, haveResult: boolean): Promise<void> {
    const { config } = attachment;
    // The spec lets CNI_NETNS be empty on DEL; a path that is no longer a namespace would make plugins fail.
    const netns = (await NamespacePins.isPinned(pod.netnsPath)) ? pod.netnsPath : '';
    const prevResult = haveResult && hasCheckAndPrevResultOnDel(config.cniVersion) ? attachment.result : undefined;
    const binaries = await this.findAll(config);
    const failures: unknown[] = [];
    for (let index = config.plugins.length - 1; index >= 0; index--) {
      await this.run('DEL', pod, netns, config, config.plugins[index]!, binaries[index]!, attachment.runtimeConfig, prevResult).catch((err: unknown) => {
        failures.push(err);
      });
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      const messages = failures.map((err) => (err instanceof Error ? err.message : String(err)));
      throw new BerthError('Internal', `CNI DEL for sandbox ${pod.id} failed in ${failures.length} plugins: ${messages.join('; ')}`, {
        cause: failures[0],
        context: { id: pod.id },
      });
    }
  }

  /** DEL after a failed ADD, so no half-made attachment stays behind; returns why that failed, if it did. */
  private async undoFailedAdd(pod: PodNetworkRef, attachment: CniAttachment): Promise<string | undefined> {
    try {
      await this.del(pod, attachment, Object.keys(attachment.result).length > 0);
      return undefined;
    } catch (delError) {
      return delError instanceof Error ? delError.message : String(delError);
    }
  }

  private run(
    command: CniCommand,
    pod: PodNetworkRef,
    netns: string,
    config: CniConfList,
    plugin: CniPluginConf,
    binary: string,
    runtimeConfig: Record<string, unknown>,
    prevResult: CniResult | undefined,
  ): Promise<unknown> {
    const invocation: CniInvocation = {
      command,
      containerId: pod.id,
      netns,
      ifName: IF_NAME,
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.id};K8S_POD_UID=${pod.uid}`,
      binDirs: this.options.binDirs,
      timeoutMs: this.timeoutMs,
    };
    return execPlugin(plugin.type, binary, invocation, pluginStdin(config, plugin, runtimeConfig, prevResult));
  }

  private serialised<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return next;
  }
}

function podRef(pod: PodNetworkRef): PodNetworkRef {
  return { id: pod.id, namespace: pod.namespace, name: pod.name, uid: pod.uid, netnsPath: pod.netnsPath };
}

/** The runtime-config values this pod has, keyed by CNI capability name. */
function runtimeConfigFor(pod: PodNetworkSpec, podCidr: string): Record<string, unknown> {
  const runtimeConfig: Record<string, unknown> = {};
  if (podCidr !== '') runtimeConfig['ipRanges'] = [[{ subnet: podCidr }]];
  // hostPort 0 means "not published" in the pod spec.
  const ports = pod.portMappings.filter((port) => port.hostPort > 0);
  if (ports.length > 0) {
    runtimeConfig['portMappings'] = ports.map((port) => ({
      hostPort: port.hostPort,
      containerPort: port.containerPort,
      protocol: port.protocol,
      ...(port.hostIp === undefined || port.hostIp === '' ? {} : { hostIP: port.hostIp }),
    }));
  }
  if (pod.bandwidth !== undefined) runtimeConfig['bandwidth'] = { ...pod.bandwidth };
  if (pod.dns !== undefined) runtimeConfig['dns'] = { servers: pod.dns.servers, searches: pod.dns.searches, options: pod.dns.options };
  if (pod.cgroupParent !== undefined && pod.cgroupParent !== '') runtimeConfig['cgroupPath'] = pod.cgroupParent;
  return runtimeConfig;
}

/**
 * One plugin's stdin, as the spec has the runtime build it: the plugin's own config plus the list's name and
 * cniVersion, prevResult when there is one, and runtimeConfig restricted to the capabilities the plugin declares.
 */
function pluginStdin(
  config: CniConfList,
  plugin: CniPluginConf,
  runtimeConfig: Record<string, unknown>,
  prevResult: CniResult | undefined,
): Record<string, unknown> {
  const stdin: Record<string, unknown> = { ...plugin, name: config.name, cniVersion: config.cniVersion };
  if (prevResult !== undefined) stdin['prevResult'] = prevResult;
  const wanted = Object.entries(runtimeConfig).filter(([key]) => plugin.capabilities?.[key] === true);
  if (wanted.length > 0) stdin['runtimeConfig'] = Object.fromEntries(wanted);
  return stdin;
}
