#!/usr/bin/env node
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import packageJson from '../../package.json' with { type: 'json' };
import { connectBerth, type BerthClients } from '../../proto/berth-client.js';
import type { PullImageProgress__Output } from '../../proto/gen/berth/v1/PullImageProgress.js';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, parseCommandLine, type ParsedCommand } from './args.js';
import { PullProgressView } from './pull-progress.js';
import { formatBytes, formatTime, renderTable, shortDigest } from './table.js';

const USAGE = `berthctl: berth's own CLI (containerd's ctr for berth); talks to berthd over the berth API.

Usage: berthctl [-n NAMESPACE] [--address SOCKET] [--json] COMMAND

  namespaces ls                     namespaces with images or containers
  images ls | pull REF | rm REF     images of the namespace
  containers ls                     containers of the namespace
  tasks ls                          their processes: pid and status
  snapshots ls                      snapshots the namespace's images and containers use
  content ls                        blobs the namespace's images reference
  run [--pull] [--runtime H] [-e K=V]... IMAGE NAME [CMD...]
                                    a container outside Kubernetes (host network), e.g. in -n moby
  rm NAME                           stop and remove a container made by run
  version                           berthctl's and berthd's versions
  doctor [--fix]                    what is leaked or inconsistent (mounts, snapshots, pins, shims, runc
                                    containers, bundles vs records), in every namespace; --fix repairs it

Options:
  -n, --namespace NAME   berth namespace (default ${DEFAULT_NAMESPACE}, the CRI's); objects of one are invisible in others
      --address PATH     berthd's socket (default ${DEFAULT_ADDRESS})
      --json             machine-readable output of every list
`;

class UsageError extends Error {}

type Rows = { headers: string[]; rows: string[][] };

/** Prints a list: the objects as JSON with --json, else a table. */
function printList<T>(cmd: ParsedCommand, items: T[], table: (items: T[]) => Rows): void {
  if (cmd.global.json) {
    process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
    return;
  }
  const { headers, rows } = table(items);
  process.stdout.write(renderTable(headers, rows));
}

async function pull(cmd: ParsedCommand, berth: BerthClients, reference: string): Promise<void> {
  const view = new PullProgressView(process.stdout, process.stdout.isTTY === true && !cmd.global.json);
  const started = Date.now();
  const stream = berth.images.Pull({ namespace: cmd.global.namespace, reference });
  let last: PullImageProgress__Output | undefined;
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (message: PullImageProgress__Output) => {
      last = message;
      if (!cmd.global.json) view.update(message.layers);
    });
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  const image = last?.image;
  if (image == null) throw new Error(`berthd ended the pull of ${reference} without reporting the image`);
  if (cmd.global.json) {
    process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
    return;
  }
  process.stdout.write(`pulled ${image.names[0] ?? reference} (${image.id}, ${formatBytes(Number(image.size))}) in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

async function execute(cmd: ParsedCommand, berth: BerthClients): Promise<void> {
  const [command, sub, ...args] = cmd.positionals;
  const namespace = cmd.global.namespace;
  const want = (what: string): string => {
    const value = args[0];
    if (value === undefined) throw new UsageError(`${command} ${sub} needs ${what}`);
    return value;
  };
  const needLs = (): void => {
    if (sub !== 'ls' && sub !== 'list') throw new UsageError(`unknown ${command} command "${sub ?? ''}"; use ${command} ls`);
  };
  switch (command) {
    case 'namespaces':
    case 'ns': {
      needLs();
      const { namespaces } = await berth.namespaces.List({});
      return printList(cmd, namespaces, (list) => ({
        headers: ['NAME', 'IMAGES', 'SANDBOXES', 'CONTAINERS'],
        rows: list.map((n) => [n.name, String(n.images), String(n.sandboxes), String(n.containers)]),
      }));
    }
    case 'images':
    case 'image':
    case 'i':
      if (sub === 'pull') return pull(cmd, berth, want('an image reference'));
      if (sub === 'rm' || sub === 'remove') {
        for (const reference of args.length > 0 ? args : [want('an image reference')]) {
          await berth.images.Remove({ namespace, reference });
          if (!cmd.global.json) process.stdout.write(`${reference}\n`);
        }
        return;
      }
      needLs();
      return printList(cmd, (await berth.images.List({ namespace })).images, (list) => ({
        headers: ['REF', 'IMAGE ID', 'SIZE', 'PLATFORM', 'CREATED'],
        rows: list.flatMap((i) => i.names.map((name) => [name, shortDigest(i.id), formatBytes(Number(i.size)), i.platform, formatTime(i.created_at, 'ms')])),
      }));
    case 'containers':
    case 'container':
    case 'c':
      needLs();
      return printList(cmd, (await berth.containers.List({ namespace })).containers, (list) => ({
        headers: ['CONTAINER', 'NAME', 'IMAGE', 'STATE', 'RUNTIME', 'CREATED'],
        rows: list.map((c) => [c.id.slice(0, 13), c.name, c.image, c.state.replace('CONTAINER_', '').toLowerCase(), c.runtime_handler || 'default', formatTime(c.created_at, 'ns')]),
      }));
    case 'tasks':
    case 'task':
    case 't':
      needLs();
      return printList(cmd, (await berth.tasks.List({ namespace })).tasks, (list) => ({
        headers: ['TASK', 'NAME', 'PID', 'STATUS'],
        rows: list.map((t) => [t.container_id.slice(0, 13), t.name, String(t.pid), t.status === 'stopped' ? `stopped (exit ${t.exit_code})` : t.status]),
      }));
    case 'snapshots':
    case 'snapshot':
      needLs();
      return printList(cmd, (await berth.snapshots.List({ namespace })).snapshots, (list) => ({
        headers: ['KEY', 'PARENT', 'KIND'],
        rows: list.map((s) => [s.key, s.parent, s.kind]),
      }));
    case 'content':
      needLs();
      return printList(cmd, (await berth.content.List({ namespace })).blobs, (list) => ({
        headers: ['DIGEST', 'SIZE', 'CREATED'],
        rows: list.map((b) => [b.digest, formatBytes(Number(b.size)), formatTime(b.created_at, 'ms')]),
      }));
    case 'run': {
      const [image, name] = [sub, args[0]];
      if (image === undefined || name === undefined) throw new UsageError('run needs IMAGE and NAME: berthctl -n moby run busybox web1 [CMD...]');
      const { container } = await berth.containers.Run({ namespace, image, name, args: cmd.rest, env: cmd.env, runtime_handler: cmd.runtime, pull: cmd.pull });
      if (cmd.global.json) process.stdout.write(`${JSON.stringify(container, null, 2)}\n`);
      else process.stdout.write(`${container?.id ?? name}\n`);
      return;
    }
    case 'rm': {
      const targets = [sub, ...args].filter((t): t is string => t !== undefined);
      if (targets.length === 0) throw new UsageError('rm needs a container name or id');
      for (const id of targets) {
        await berth.containers.Remove({ namespace, id });
        if (!cmd.global.json) process.stdout.write(`${id}\n`);
      }
      return;
    }
    case 'version': {
      const server = await berth.daemon.Version({});
      const both = { client: { version: packageJson.version, node: process.version }, server };
      if (cmd.global.json) process.stdout.write(`${JSON.stringify(both, null, 2)}\n`);
      else process.stdout.write(`Client:\n  Version:  ${packageJson.version}\n  Node:     ${process.version}\nServer (berthd):\n  Version:  ${server.version}\n  CRI API:  ${server.cri_api_version}\n  Node:     ${server.node_version}\n`);
      return;
    }
    case 'doctor': {
      const { findings } = await berth.doctor.Check({ namespace, fix: cmd.fix });
      if (findings.length === 0 && !cmd.global.json) {
        process.stdout.write('no problems found\n');
        return;
      }
      return printList(cmd, findings, (list) => ({
        headers: ['KIND', 'NAMESPACE', 'SUBJECT', ...(cmd.fix ? ['FIXED'] : []), 'DETAIL'],
        rows: list.map((f) => [f.kind, f.namespace || '-', f.subject, ...(cmd.fix ? [f.fixed ? 'yes' : `no: ${f.fix_error}`] : []), f.detail]),
      }));
    }
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** One line naming what failed and, for an unreachable daemon, where berthctl looked. */
function describe(err: unknown, address: string): string {
  const e = err as Partial<ServiceError>;
  if (e.code === GrpcStatus.UNAVAILABLE) return `cannot reach berthd at ${address} (${e.details}); is it running (systemctl status berth), or is --address wrong?`;
  if (typeof e.code === 'number' && e.details !== undefined) return `${GrpcStatus[e.code]}: ${e.details}`;
  return err instanceof Error ? err.message : String(err);
}

async function main(argv: string[]): Promise<number> {
  let cmd: ParsedCommand;
  try {
    cmd = parseCommandLine(argv);
  } catch (err) {
    process.stderr.write(`berthctl: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cmd.global.help || cmd.positionals.length === 0) {
    (cmd.global.help ? process.stdout : process.stderr).write(USAGE);
    return cmd.global.help ? 0 : 2;
  }
  const berth = connectBerth(cmd.global.address);
  try {
    await execute(cmd, berth);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`berthctl: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`berthctl: ${describe(err, cmd.global.address)}\n`);
    return 1;
  } finally {
    berth.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
