// A strict reader of the Prometheus text exposition format (0.0.4), enough to check that
// /metrics parses and to diff samples between two scrapes.
export type Samples = Map<string, number>;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/;

/** Samples by `name{label="value",...}` (labels sorted); throws on any malformed line. */
export function parsePrometheus(text: string): Samples {
  const samples: Samples = new Map();
  const typed = new Set<string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) typed.add(type[1] as string);
      else if (!/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) throw new Error(`line ${i + 1}: malformed comment: ${line}`);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const [, name, , rawLabels, rawValue] = match as unknown as [string, string, string | undefined, string | undefined, string];
    const family = name.replace(/_(bucket|sum|count|total|created)$/, '');
    if (!typed.has(name) && !typed.has(family)) throw new Error(`line ${i + 1}: sample ${name} has no # TYPE line before it`);
    const labels = rawLabels
      ? splitLabels(rawLabels)
          .map((pair) => {
            if (!LABEL.test(pair)) throw new Error(`line ${i + 1}: malformed label ${pair}`);
            return pair;
          })
          .sort()
      : [];
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
    const special = rawValue.toLowerCase();
    const value = special === '+inf' || special === 'inf' ? Infinity : special === '-inf' ? -Infinity : special === 'nan' ? NaN : Number(rawValue);
    if (Number.isNaN(value) && special !== 'nan') throw new Error(`line ${i + 1}: value ${rawValue} is not a number`);
    samples.set(labels.length ? `${name}{${labels.join(',')}}` : name, value);
  }
  return samples;
}

function splitLabels(raw: string): string[] {
  const pairs: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i += 1) {
    const char = raw[i] as string;
    if (char === '\\' && quoted) {
      current += char + (raw[i + 1] ?? '');
      i += 1;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === ',' && !quoted) {
      pairs.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  if (current) pairs.push(current);
  return pairs;
}

/** The key of a sample, labels given in any order. */
export function sample(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  return pairs.length ? `${name}{${pairs.join(',')}}` : name;
}

/** How much each listed sample moved between two scrapes (absent counts as 0). */
export function delta(before: Samples, after: Samples, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}
