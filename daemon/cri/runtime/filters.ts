/** The CRI list filters berth applies the way containerd does: ids by unique prefix, labels by equality on every key. */
export function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export function matchesId(id: string, filter: string | undefined): boolean {
  return !filter || id.startsWith(filter);
}
