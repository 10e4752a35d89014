/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME [NAME...]` runs the named ones.
 * Each benchmark is bench/<name>.ts exporting `default async (): Promise<object>`; its figures are
 * printed as one JSON line `{"bench": NAME, ...figures}` so runs can be compared over time.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}

let failed = false;
for (const name of wanted.length > 0 ? wanted : available) {
  try {
    const mod = (await import(pathToFileURL(join(here, `${name}.js`)).href)) as {
      default: () => Promise<Record<string, unknown>>;
    };
    const figures = await mod.default();
    console.log(JSON.stringify({ bench: name, ...figures }));
  } catch (err) {
    failed = true;
    console.log(JSON.stringify({ bench: name, error: String((err as Error)?.stack ?? err) }));
  }
}
process.exit(failed ? 1 : 0);
