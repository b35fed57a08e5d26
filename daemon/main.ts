#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { defaultConfig } from '../config/defaults.js';
import { formatConfig, resolveConfig } from '../config/load.js';
import { createLogger } from './logging/logger.js';
import { startDaemon } from './server/daemon.js';
import { reloadConfig } from './server/reload.js';
import { serviceManagerFromEnv } from './systemd/sd-notify.js';
import { install, uninstall, type FileReport } from './systemd/install.js';

const USAGE = `usage:
  berthd [--config FILE]                 serve the CRI on [grpc] address
  berthd config default                  print the built-in default config as TOML
  berthd config check [--config FILE]    validate a config file (exit 0 when valid)
  berthd install [--prefix-root DIR]     write berth.service, a default /etc/berth/config.toml and /etc/crictl.yaml
  berthd uninstall [--prefix-root DIR]   remove what install wrote (files edited since are kept)

Without --config, /etc/berth/config.toml is read if it exists; otherwise the built-in defaults apply.
SIGHUP re-reads the config: log.level, cri.registry.config_path and metrics.address apply at once.`;

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
  const systemd = serviceManagerFromEnv((err) => logger.warn({ err }, 'cannot notify systemd (NOTIFY_SOCKET)'));
  // A crash is logged as one JSON line like everything else; the next start clears the stale socket.
  const crash = (err: unknown): never => {
    logger.fatal({ err }, 'berthd crashed');
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // systemd arms the watchdog once READY=1 arrives; pinging already during start-up costs nothing.
  const watchdogMs = systemd.startWatchdog();
  if (watchdogMs !== undefined) logger.info({ intervalMs: watchdogMs }, 'pinging the systemd watchdog');
  let daemon;
  try {
    daemon = await startDaemon(config, source, logger);
  } catch (err) {
    logger.fatal({ err }, 'berthd failed to start');
    fail(err instanceof Error ? err.message : String(err), 1);
  }
  systemd.ready();
  systemd.status(`serving CRI on ${config.grpc.address}`);
  let stopping = false;
  // Reloads run one after another; a SIGHUP during one queues the next.
  let reloads = Promise.resolve();
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 're-reading the config');
    reloads = reloads
      .then(async () => {
        systemd.reloading();
        await reloadConfig(daemon, configPath, logger);
      })
      // A reload that breaks unexpectedly is a berth bug; the daemon keeps serving on what it had.
      .catch((err: unknown) => logger.error({ err }, 'config reload failed unexpectedly'))
      .finally(() => systemd.ready());
  });
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    systemd.stopping();
    systemd.close();
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

function printReports(reports: FileReport[]): void {
  for (const { path, outcome } of reports) process.stdout.write(`${outcome.padEnd(34)} ${path}\n`);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'prefix-root': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
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
    case 'install':
    case 'uninstall': {
      const target = {
        root: resolve(values['prefix-root'] ?? '/'),
        node: process.execPath,
        // The unit runs the main.js that ran this install, through symlinks (npm's bin links).
        main: realpathSync(process.argv[1] ?? ''),
        socket: defaultConfig().grpc.address,
      };
      try {
        printReports(command === 'install' ? await install(target) : await uninstall(target));
      } catch (err) {
        // EACCES as a non-root user, a read-only /etc ...: the message names the path.
        fail(`${command} failed: ${err instanceof Error ? err.message : String(err)}`, 1);
      }
      if (command === 'install') process.stdout.write('next: systemctl daemon-reload && systemctl enable --now berth\n');
      return;
    }
    default:
      fail(`unknown command "${command}"\n${USAGE}`, 2);
  }
}

await main(process.argv.slice(2));
