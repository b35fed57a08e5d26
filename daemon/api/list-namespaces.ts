import type { BerthRpc } from './handler.js';

export const listNamespaces: BerthRpc<'Namespaces', 'List'> = async (_request, ctx) => {
  const open = await ctx.namespaces.all();
  const names = new Set([...(await ctx.namespaces.onDisk()), ...open.keys()]);
  const namespaces = [...names].sort().map((name) => {
    const pods = open.get(name);
    return {
      name,
      images: ctx.images.list(name).length,
      sandboxes: pods?.sandboxes.list().length ?? 0,
      containers: pods?.containers.list().length ?? 0,
    };
  });
  return { namespaces: namespaces.filter((n) => n.images + n.sandboxes + n.containers > 0) };
};
