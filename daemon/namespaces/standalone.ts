import type { ContainerConfig } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { ContainerConfig__Output } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig, PodSandboxConfig__Output } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { loadCriPackage } from '../../proto/cri-proto.js';
import type { ContainerRecord } from '../container/container.js';
import type { ImageSource } from '../container/image-source.js';
import { BerthError, failedPrecondition, invalidArgument, notFound } from '../errors/errors.js';
import { CRI_NAMESPACE } from '../images/image-service.js';
import type { PodServices } from '../sandbox/open.js';
import type { SandboxRecord } from '../sandbox/sandbox.js';

/** Marks the one-container pods behind standalone containers. */
export const STANDALONE_LABEL = 'berth.io/standalone';

export interface StandaloneSpec {
  /** Unique in the namespace; also the pod's name. */
  name: string;
  image: string;
  /** Replaces the image's entrypoint and cmd; empty keeps them. */
  args: string[];
  /** KEY=VALUE. */
  env: string[];
  runtimeHandler: string;
  /** Pull the image first when the namespace lacks it. */
  pull: boolean;
}

const NODE_NAMESPACES = { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'NODE' } } as const;

/**
 * Fills a config the way the CRI decoder does (defaults, enum names, int64 strings), so the pod and container
 * services get exactly the shape kubelet's requests have and run the same code for a standalone container.
 */
function decodeLikeCri(config: PodSandboxConfig): PodSandboxConfig__Output;
function decodeLikeCri(config: PodSandboxConfig, container: ContainerConfig): ContainerConfig__Output;
function decodeLikeCri(pod: PodSandboxConfig, container?: ContainerConfig): PodSandboxConfig__Output | ContainerConfig__Output {
  const create = loadCriPackage().RuntimeService.service.CreateContainer;
  const decoded = create.requestDeserialize(create.requestSerialize({ pod_sandbox_id: '', config: container ?? null, sandbox_config: pod }));
  return container === undefined ? decoded.sandbox_config! : decoded.config!;
}

/**
 * A container outside Kubernetes (berthctl run): a pod of one in a non-CRI namespace, on the host's network and
 * IPC with its own PID and mount namespaces, so it reuses the sandbox, bundle, spec and shim paths of the CRI.
 */
export async function runStandalone(pods: PodServices, images: ImageSource, namespace: string, spec: StandaloneSpec): Promise<ContainerRecord> {
  // One at a time per namespace: two runs of one name would otherwise both pass the name check, and the pod
  // services would hand the second the first's pod (creates are idempotent for kubelet's retries).
  const previous = runs.get(pods) ?? Promise.resolve();
  const current = previous.then(() => runOne(pods, images, namespace, spec));
  const settled = current.then(
    () => undefined,
    () => undefined,
  );
  runs.set(pods, settled);
  return current;
}

const runs = new WeakMap<PodServices, Promise<void>>();

async function runOne(pods: PodServices, images: ImageSource, namespace: string, spec: StandaloneSpec): Promise<ContainerRecord> {
  if (namespace === CRI_NAMESPACE) {
    throw invalidArgument(`namespace ${CRI_NAMESPACE} belongs to kubelet (the CRI), which would remove pods it did not make; run standalone containers in another namespace, e.g. berthctl -n moby run`);
  }
  if (spec.name === '' || spec.image === '') throw invalidArgument('run needs an image and a container name');
  if (findStandalone(pods, spec.name) !== undefined) {
    throw new BerthError('AlreadyExists', `container "${spec.name}" already exists in namespace ${namespace}; remove it first (berthctl -n ${namespace} rm ${spec.name}) or choose another name`);
  }
  if (spec.pull && (await images.get(namespace, spec.image)) === undefined) await images.pull(namespace, spec.image);
  if ((await images.get(namespace, spec.image)) === undefined) {
    throw notFound(`image ${spec.image} not found in namespace ${namespace}; pull it first (berthctl -n ${namespace} images pull ${spec.image}) or pass --pull`);
  }
  const pod: PodSandboxConfig = {
    metadata: { name: spec.name, namespace, uid: `${namespace}/${spec.name}`, attempt: 0 },
    labels: { [STANDALONE_LABEL]: spec.name },
    linux: { security_context: NODE_NAMESPACES },
  };
  const sandbox = await pods.sandboxes.run(decodeLikeCri(pod), spec.runtimeHandler);
  try {
    const env = spec.env.map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw invalidArgument(`environment entry "${kv}" is not KEY=VALUE`);
      return { key: kv.slice(0, eq), value: kv.slice(eq + 1) };
    });
    const config = decodeLikeCri(pod, {
      metadata: { name: spec.name, attempt: 0 },
      image: { image: spec.image },
      command: spec.args,
      envs: env,
      labels: { [STANDALONE_LABEL]: spec.name },
      linux: { security_context: NODE_NAMESPACES },
    });
    const container = await pods.containers.create(sandbox.id, config);
    await pods.containers.start(container.id);
    return pods.containers.get(container.id);
  } catch (err) {
    await pods.sandboxes.remove(sandbox.id).catch(() => undefined);
    throw err;
  }
}

/** Stops and removes a standalone container (by name, id or id prefix) with its pod. */
export async function removeStandalone(pods: PodServices, namespace: string, nameOrId: string): Promise<void> {
  const byId = pods.containers.list().filter((c) => c.id.startsWith(nameOrId));
  if (byId.length > 1) throw invalidArgument(`container id prefix "${nameOrId}" is ambiguous in namespace ${namespace}; give more characters or the name`);
  const sandbox = findStandalone(pods, nameOrId) ?? pods.sandboxes.list().find((s) => s.id === byId[0]?.sandboxId);
  if (sandbox === undefined) throw notFound(`no container "${nameOrId}" in namespace ${namespace}; list them with berthctl -n ${namespace} containers ls`);
  if (sandbox.config.labels[STANDALONE_LABEL] === undefined) {
    throw failedPrecondition(`container "${nameOrId}" belongs to a Kubernetes pod (${sandbox.id}); remove it through the kubelet or crictl, not berthctl`);
  }
  await pods.sandboxes.remove(sandbox.id);
}

function findStandalone(pods: PodServices, name: string): SandboxRecord | undefined {
  return pods.sandboxes.list().find((s) => s.config.labels[STANDALONE_LABEL] === name);
}
