// Builds the browser client into dist/:
//   - app-<hash>.js and app-<hash>.css (minified, each with its sourcemap app-<hash>.js.map ...):
//     the name changes whenever the content does, so the server lets browsers keep them a year;
//   - the HTML pages, copied from index.html, room.html, console.html and archive.html with `/static/app.js` and
//     `/static/app.css` replaced by the hashed names (from esbuild's metafile);
//   - beside every text file a gzip and a brotli copy (app-<hash>.js.gz, app-<hash>.js.br; Node's
//     zlib at its best levels), which the server sends to browsers that accept them.
// Usage: `npm run build` (once) or `npm run watch` (rebuild on change: the pages are rewritten on
// every rebuild and outputs of the previous one removed; no compressed copies, the server then
// sends the files as they are).
import * as esbuild from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import zlib from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
export const PAGES = ["index.html", "room.html", "console.html", "archive.html"];
const ENTRIES = [
  { in: "src/main.js", out: "app" },
  { in: "src/styles/index.css", out: "app" },
];
const TEXT = new Set([".js", ".css", ".html", ".map", ".json", ".svg", ".txt"]);
const ENCODINGS = { ".gz": "gzip", ".br": "br" };

const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);

/** The hashed name of each entry's output, by the name the pages use: "app.js" -> "app-Q3X7ZK2M.js". */
export function hashedNames(metafile) {
  const names = new Map();
  for (const [path, output] of Object.entries(metafile.outputs)) {
    const entry = ENTRIES.find((e) => e.in === output.entryPoint);
    if (entry) names.set(entry.out + extname(path), basename(path));
  }
  return names;
}

/** A page with every `/static/<name>` it refers to replaced by the hashed name; an unknown name is an error. */
export function rewritePage(html, names, page = "page") {
  return html.replace(/\/static\/([^"'\s?#)]+)/g, (_, name) => {
    const hashed = names.get(name);
    if (!hashed) throw new Error(`${page} refers to /static/${name}, which the build does not produce`);
    return `/static/${hashed}`;
  });
}

/**
 * Writes file.gz and file.br beside a file (each only if it is smaller than the file). Brotli at its
 * best quality, except for sourcemaps (only developer tools fetch them): quality 11 takes 3 s on the
 * 2 MB map, quality 9 0.2 s for 10% more bytes.
 */
export async function compressFile(path) {
  const data = await readFile(path);
  const quality = path.endsWith(".map") ? 9 : zlib.constants.BROTLI_MAX_QUALITY;
  const [gz, br] = await Promise.all([
    gzip(data, { level: zlib.constants.Z_BEST_COMPRESSION }),
    brotli(data, {
      params: {
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  ]);
  const sizes = { raw: data.length };
  for (const [suffix, body] of [[".gz", gz], [".br", br]]) {
    if (body.length < data.length) {
      await writeFile(path + suffix, body);
      sizes[ENCODINGS[suffix]] = body.length;
    } else {
      await rm(path + suffix, { force: true });
    }
  }
  return sizes;
}

async function writePages(root, outdir, names) {
  await Promise.all(PAGES.map(async (page) => {
    const html = await readFile(join(root, page), "utf8");
    const target = join(outdir, page);
    await writeFile(target, rewritePage(html, names, page));
    for (const suffix of Object.keys(ENCODINGS)) await rm(target + suffix, { force: true });
  }));
}

/**
 * Builds the client in `root` (this folder: its src/ and pages) into `outdir` (emptied first).
 * Returns {names, files}: the hashed names by the names the pages use, and each file written (its
 * name in outdir) with its sizes; with `watch`, returns once the first build is done and keeps
 * rebuilding (`stop()` on the result ends it).
 */
export async function build({ root = here, outdir = join(root, "dist"), watch = false, compress = !watch } = {}) {
  let previous = new Set();
  const state = { names: new Map(), outputs: [], error: null };
  let built;
  const firstBuild = new Promise((resolve) => { built = resolve; });
  const options = {
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir,
    entryNames: "[name]-[hash]",
    bundle: true,
    minify: true,
    sourcemap: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    metafile: true,
    logLevel: "warning",
    plugins: [
      {
        name: "pages",
        setup(b) {
          b.onEnd(async (result) => {
            state.error = null;
            try {
              if (result.errors.length) return;  // esbuild has reported them
              state.names = hashedNames(result.metafile);
              state.outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
              await writePages(root, outdir, state.names);
              const current = new Set(state.outputs);
              const stale = [...previous].filter((name) => !current.has(name));
              await Promise.all(stale.flatMap((name) =>
                ["", ...Object.keys(ENCODINGS)].map((s) => rm(join(outdir, name + s), { force: true }))));
              previous = current;
            } catch (err) {
              state.error = err;
              if (watch) console.error(`build: ${err.message}`);
            } finally {
              built();
            }
          });
        },
      },
    ],
  };

  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  if (watch) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    await firstBuild;
    return { names: state.names, stop: () => ctx.dispose() };
  }
  await esbuild.build(options);
  if (state.error) throw state.error;
  const files = {};
  await Promise.all([...state.outputs, ...PAGES].map(async (name) => {
    const path = join(outdir, name);
    files[name] = compress && TEXT.has(extname(name)) ? await compressFile(path) : { raw: (await readFile(path)).length };
  }));
  return { names: state.names, files };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes("--watch")) {
    await build({ watch: true });
    console.log("watching client_web/src for changes");
  } else {
    const { files } = await build();
    if (process.argv.includes("--sizes")) {
      for (const [name, s] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
        console.log(`${name.padEnd(24)} ${String(s.raw).padStart(9)} raw ${String(s.gzip ?? "-").padStart(8)} gzip ${String(s.br ?? "-").padStart(8)} br`);
      }
    }
  }
}
