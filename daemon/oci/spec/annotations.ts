/** The annotation keys containerd puts on OCI specs; monitoring and runtime hooks read them, so berth uses the same. */
export const Annotation = {
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxLogDirectory: 'io.kubernetes.cri.sandbox-log-directory',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

export interface PodIdentity { sandboxId: string; name: string; namespace: string; uid: string }

function podAnnotations(type: 'container' | 'sandbox', pod: PodIdentity): Record<string, string> {
  return {
    [Annotation.containerType]: type,
    [Annotation.sandboxId]: pod.sandboxId,
    [Annotation.sandboxName]: pod.name,
    [Annotation.sandboxNamespace]: pod.namespace,
    [Annotation.sandboxUid]: pod.uid,
  };
}

export function containerAnnotations(pod: PodIdentity, containerName: string, imageName: string): Record<string, string> {
  return { ...podAnnotations('container', pod), [Annotation.containerName]: containerName, [Annotation.imageName]: imageName };
}

export function sandboxAnnotations(pod: PodIdentity, logDirectory: string): Record<string, string> {
  return { ...podAnnotations('sandbox', pod), [Annotation.sandboxLogDirectory]: logDirectory };
}
