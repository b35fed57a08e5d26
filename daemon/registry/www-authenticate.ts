/**
 * Parses `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`,
 * several per header or across headers. Parameter names are lower-cased; unknown schemes are kept for the caller
 * to ignore.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const all: Challenge[] = [];
  for (const line of Array.isArray(header) ? header : [header]) all.push(...parseLine(line));
  return all;
}

function parseLine(line: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = line.trim();
  let current: Challenge | undefined;
  while (rest.length > 0) {
    rest = rest.replace(/^[\s,]+/, '');
    const name = TOKEN.exec(rest)?.[0];
    if (name === undefined) break;
    const after = rest.slice(name.length).replace(/^\s+/, '');
    if (after.startsWith('=') && current !== undefined) {
      const parsed = parseValue(after.slice(1).replace(/^\s+/, ''));
      current.params[name.toLowerCase()] = parsed.value;
      rest = parsed.rest;
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
      rest = after;
    }
  }
  return challenges;
}

function parseValue(text: string): { value: string; rest: string } {
  if (!text.startsWith('"')) {
    // Leniently up to the next comma or space: some servers leave URLs unquoted.
    const value = /^[^,\s]*/.exec(text)?.[0] ?? '';
    return { value, rest: text.slice(value.length) };
  }
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length) {
      value += text[++i];
    } else if (ch === '"') {
      return { value, rest: text.slice(i + 1) };
    } else {
      value += ch;
    }
  }
  return { value, rest: '' };
}
