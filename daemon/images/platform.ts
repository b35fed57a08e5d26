import { notFound } from '../errors/errors.js';
import type { Descriptor, Platform } from '../oci/image-spec.js';

/** Node's process.arch names mapped to the OCI (GOARCH) names registries use. */
const ociArch: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The platform this daemon runs containers for: linux on the host's architecture. */
export function hostPlatform(arch: NodeJS.Architecture = process.arch): Platform {
  const architecture = ociArch[arch] ?? arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
    return { os: 'linux', architecture, variant: `v${typeof armVersion === 'string' ? armVersion : '7'}` };
  }
  return { os: 'linux', architecture };
}

/**
 * Variants acceptable for `want`, best first. An ARM host runs older ARM variants too; arm64 images often omit
 * "v8"; amd64 images are normally unvariant and a "v1" (baseline) image runs everywhere.
 */
function acceptedVariants(want: Platform): Array<string | undefined> {
  switch (want.architecture) {
    case 'arm64':
      return ['v8', undefined];
    case 'arm': {
      const n = Number((want.variant ?? 'v7').slice(1));
      const older: string[] = [];
      for (let v = n; v >= 5; v--) older.push(`v${v}`);
      return [...older, undefined];
    }
    case 'amd64':
      return [undefined, 'v1'];
    default:
      return want.variant === undefined ? [undefined] : [want.variant, undefined];
  }
}

/** How well `have` suits `want`: lower is better, undefined means it cannot run. */
export function platformRank(want: Platform, have: Platform): number | undefined {
  if (have.os !== want.os || have.architecture !== want.architecture) return undefined;
  const rank = acceptedVariants(want).indexOf(have.variant === '' ? undefined : have.variant);
  return rank < 0 ? undefined : rank;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** Picks the manifest of an index that best runs on `want`; NotFound lists what the index offers. */
export function selectManifest(manifests: readonly Descriptor[], want: Platform, imageName: string): Descriptor {
  let best: { desc: Descriptor; rank: number } | undefined;
  for (const desc of manifests) {
    if (desc.platform === undefined) continue;
    const rank = platformRank(want, desc.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { desc, rank };
  }
  if (best !== undefined) return best.desc;
  const offered = manifests.map((m) => (m.platform === undefined ? 'unknown' : formatPlatform(m.platform)));
  throw notFound(`image "${imageName}" has no manifest for platform ${formatPlatform(want)} (the index offers: ${offered.join(', ') || 'nothing'})`, {
    image: imageName,
    platform: formatPlatform(want),
  });
}
