import packageJson from '../../../package.json' with { type: 'json' };
import type { RuntimeRpc } from '../handler.js';

/** The CRI version berth implements; kubelet checks runtime_api_version before anything else. */
export const CRI_API_VERSION = 'v1';
/** VersionResponse.version: the version of berth's reply format, fixed by the CRI at "0.1.0". */
const VERSION_RESPONSE_VERSION = '0.1.0';

export const version: RuntimeRpc<'Version'> = async () => ({
  version: VERSION_RESPONSE_VERSION,
  runtime_name: 'berth',
  runtime_version: packageJson.version,
  runtime_api_version: CRI_API_VERSION,
});
