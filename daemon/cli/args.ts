import { parseArgs } from 'node:util';

export const DEFAULT_ADDRESS = '/run/berth/berth.sock';
export const DEFAULT_NAMESPACE = 'k8s.io';

export interface GlobalOptions {
  namespace: string;
  address: string;
  json: boolean;
  help: boolean;
}

export interface ParsedCommand {
  global: GlobalOptions;
  /** e.g. ["images", "pull", "busybox"]: the command words and their positionals. */
  positionals: string[];
  /** Everything after the IMAGE and ID of `run` (or after `--`), never parsed as options. */
  rest: string[];
  /** Options of the command (run: --pull, --runtime, --env; doctor: --fix). */
  pull: boolean;
  fix: boolean;
  runtime: string;
  env: string[];
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n', default: DEFAULT_NAMESPACE },
  address: { type: 'string', default: DEFAULT_ADDRESS },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  pull: { type: 'boolean', default: false },
  fix: { type: 'boolean', default: false },
  runtime: { type: 'string', default: '' },
  env: { type: 'string', short: 'e', multiple: true, default: [] as string[] },
} as const;

/**
 * Options may come anywhere before the command's own arguments. For `run IMAGE ID CMD…` the command line of the
 * container starts after ID and is passed through untouched (`berthctl -n moby run busybox t1 sh -c 'sleep 9'`).
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const { head, rest } = splitRunCommand(argv);
  const { values, positionals } = parseArgs({ args: head, options: OPTIONS, allowPositionals: true, strict: true });
  return {
    global: { namespace: values.namespace, address: values.address, json: values.json, help: values.help },
    positionals,
    rest,
    pull: values.pull,
    fix: values.fix,
    runtime: values.runtime,
    env: values.env,
  };
}

const VALUE_OPTIONS = new Set(['-n', '--namespace', '--address', '--runtime', '-e', '--env']);

function splitRunCommand(argv: readonly string[]): { head: string[]; rest: string[] } {
  const positionals: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return { head: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    positionals.push(i);
    // run IMAGE ID: the third positional after `run` starts the container's command.
    if (argv[positionals[0] as number] === 'run' && positionals.length === 4) return { head: argv.slice(0, i), rest: argv.slice(i) };
  }
  return { head: [...argv], rest: [] };
}
