import packageJson from '../../package.json' with { type: 'json' };
import { CRI_API_VERSION } from '../cri/runtime/version.js';
import type { BerthRpc } from './handler.js';

export const version: BerthRpc<'Daemon', 'Version'> = async () => ({
  version: packageJson.version,
  cri_api_version: CRI_API_VERSION,
  node_version: process.version,
});
