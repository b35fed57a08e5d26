/**
 * Binary-exact xattr values from PAX headers. tar-stream decodes PAX values as UTF-8 strings, which damages binary
 * values such as security.capability. keepRawPaxXattrs hooks the extractor's long-header decoding (a tar-stream 3
 * internal; the applier's tests fail if it moves) to also record each `SCHILY.xattr.<name>` value's raw bytes, in
 * base64, under `BERTH.raw-xattr.<name>`.
 */
import type { Extract } from 'tar-stream';

export const RAW_XATTR_PREFIX = 'BERTH.raw-xattr.';
const SCHILY_XATTR = 'SCHILY.xattr.';

interface ExtractInternals {
  _header: { type: string | null } | null;
  _pax: Record<string, string> | null;
  _decodeLongHeader(buf: Buffer): void;
}

export function keepRawPaxXattrs(extract: Extract): void {
  const internals = extract as unknown as ExtractInternals;
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') throw new Error('tar-stream no longer decodes long headers in _decodeLongHeader; update snapshotter/pax-xattrs.ts');
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    decode.call(this, buf);
    if (this._header?.type !== 'pax-header' || this._pax === null) return;
    for (const [key, value] of paxRecords(buf)) {
      if (key.startsWith(SCHILY_XATTR)) this._pax[RAW_XATTR_PREFIX + key.slice(SCHILY_XATTR.length)] = value.toString('base64');
    }
  };
}

/** PAX extended header records, `<length> <key>=<value>\n`, with values as raw bytes. */
function paxRecords(buf: Buffer): Array<[string, Buffer]> {
  const records: Array<[string, Buffer]> = [];
  let offset = 0;
  while (offset < buf.length) {
    const space = buf.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(buf.toString('ascii', offset, space), 10);
    if (!(length > 0) || offset + length > buf.length) break;
    const record = buf.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    records.push([record.subarray(0, eq).toString('utf8'), record.subarray(eq + 1)]);
    offset += length;
  }
  return records;
}
