import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

/**
 * The snapshots the namespace uses: its images' layer chains (each committed snapshot down to the base) and its
 * containers' writable layers. The snapshotter is shared; a chain two namespaces pull appears in both.
 */
export const listSnapshots: BerthRpc<'Snapshots', 'List'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  const all = await ctx.snapshotter.list();
  const byKey = new Map(all.map((s) => [s.key, s]));
  const wanted = new Set<string>();
  const addChain = (key: string | undefined): void => {
    for (let k = key; k !== undefined && !wanted.has(k); k = byKey.get(k)?.parent) wanted.add(k);
  };
  for (const view of ctx.images.list(namespace)) addChain(view.records[0]?.chainID);
  const pods = await ctx.namespaces.existing(namespace);
  for (const c of pods?.containers.list() ?? []) addChain(c.snapshotKey);
  for (const s of pods?.sandboxes.list() ?? []) if (s.infra) addChain(s.infra.snapshotKey);
  return {
    snapshots: all.filter((s) => wanted.has(s.key)).map((s) => ({ key: s.key, parent: s.parent ?? '', kind: s.kind, created_at: s.createdAt })),
  };
};
