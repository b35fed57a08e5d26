import { ConfigError } from '../../config/config-error.js';
import { resolveConfig } from '../../config/load.js';
import { planReload } from '../../config/reload-plan.js';
import type { Logger } from '../logging/logger.js';
import type { RunningDaemon } from './daemon.js';

/**
 * SIGHUP: read the config again the way start-up did (--config FILE, else /etc/berth/config.toml if present,
 * else the defaults), apply the keys that can change live, and name in one warn line the changed keys that
 * wait for a restart. A file that does not load is refused with one error line and nothing changes.
 */
export async function reloadConfig(daemon: RunningDaemon, explicitPath: string | undefined, logger: Logger): Promise<boolean> {
  let loaded;
  try {
    loaded = resolveConfig(explicitPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    daemon.metrics.recordReload(false);
    logger.error({ file: err.file, key: err.key }, `config reload refused, berthd keeps running on the previous config: ${err.message}`);
    return false;
  }
  const plan = planReload(daemon.config.current(), loaded.config);
  if (plan.needsRestart.length > 0) {
    logger.warn(
      { source: loaded.source, keys: plan.needsRestart },
      `config reload: ${plan.needsRestart.join(', ')} changed in ${loaded.source} but take effect only after a restart (systemctl restart berth); the running values are kept until then`,
    );
  }
  try {
    await daemon.applyConfig(plan.effective);
  } catch (err) {
    daemon.metrics.recordReload(false);
    logger.error({ err, source: loaded.source }, `config reload failed part-way: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
  daemon.metrics.recordReload(true);
  logger.info({ source: loaded.source, applied: plan.applied }, plan.applied.length > 0 ? 'config reloaded' : 'config reloaded, no live setting changed');
  return true;
}
