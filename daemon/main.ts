#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { defaultConfig } from '../config/defaults.js';
import { formatConfig, resolveConfig } from '../config/load.js';
import { createLogger } from './logging/logger.js';
import { startDaemon } from './server/daemon.js';

const USAGE = `usage:
  berthd [--config FILE]                 serve the CRI on [grpc] address
  berthd config default                  print the built-in default config as TOML
  berthd config check [--config FILE]    validate a config file (exit 0 when valid)

Without --config, /etc/berth/config.toml is read if it exists; otherwise the built-in defaults apply.`;

function fail(message: string, code: number): never {
  process.stderr.write(`berthd: ${message}\n`);
  process.exit(code);
}

function configOrExit(path: string | undefined): ReturnType<typeof resolveConfig> {
  try {
    return resolveConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 1);
    throw err;
  }
}

async function serve(configPath: string | undefined): Promise<void> {
  const { config, source } = configOrExit(configPath);
  const logger = createLogger(config.log.level);
  // A crash is logged as one JSON line like everything else; the next start clears the stale socket.
  const crash = (err: unknown): never => {
    logger.fatal({ err }, 'berthd crashed');
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  let daemon;
  try {
    daemon = await startDaemon(config, source, logger);
  } catch (err) {
    logger.fatal({ err }, 'berthd failed to start');
    fail(err instanceof Error ? err.message : String(err), 1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.fatal({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const command = positionals.join(' ');
  switch (command) {
    case '':
      return serve(values.config);
    case 'config default':
      process.stdout.write(formatConfig(defaultConfig()));
      return;
    case 'config check': {
      const { source } = configOrExit(values.config);
      process.stdout.write(`${source}: valid\n`);
      return;
    }
    default:
      fail(`unknown command "${command}"\n${USAGE}`, 2);
  }
}

await main(process.argv.slice(2));
