/** The CRI list filters berth applies the way containerd does: ids by unique prefix, labels by equality on every key. */
export function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export function matchesId(id: string, filter: string | undefined): boolean {
  return !filter || id.startsWith(filter);
}

/**
 * Oldest first by `createdAt` (decimal nanoseconds without leading zeros, so the shorter is the smaller); ties
 * keep the store's order. Compares the strings instead of parsing BigInts in every comparison of a List call.
 */
export function byCreation(a: { createdAt: string }, b: { createdAt: string }): number {
  const x = a.createdAt;
  const y = b.createdAt;
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
