// build.mjs: hashed bundle names written into the pages, gzip and brotli copies beside every text
// file, and a watch rebuild that rewrites the pages. Builds into a temporary directory, not dist/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { PAGES, build, compressFile, rewritePage } from "../build.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

test("the pages name the hashed bundles and every text file has a gzip and a brotli copy", async (t) => {
  const outdir = await mkdtemp(join(tmpdir(), "sitroom-build-"));
  t.after(() => rm(outdir, { recursive: true, force: true }));
  const { names, files } = await build({ outdir });

  assert.match(names.get("app.js"), /^app-[A-Z2-7]{8}\.js$/);
  assert.match(names.get("app.css"), /^app-[A-Z2-7]{8}\.css$/);
  for (const page of PAGES) {
    const source = await readFile(join(root, page), "utf8");
    const built = await readFile(join(outdir, page), "utf8");
    assert.match(source, /"\/static\/app\.js"/, "the source page keeps the readable name");
    assert.equal(built, source.replace("/static/app.js", `/static/${names.get("app.js")}`)
      .replace("/static/app.css", `/static/${names.get("app.css")}`));
  }
  const js = await readFile(join(outdir, names.get("app.js")), "utf8");
  assert.ok(js.endsWith(`//# sourceMappingURL=${names.get("app.js")}.map\n`), "the sourcemap follows the name");

  const listing = (await readdir(outdir)).sort();
  const originals = listing.filter((name) => !/\.(gz|br)$/.test(name));
  assert.deepEqual(originals, Object.keys(files).sort());
  assert.equal(originals.length, 4 + PAGES.length, originals.join(" "));  // 2 bundles, 2 maps, the pages
  for (const name of originals) {
    const raw = await readFile(join(outdir, name));
    const gz = await readFile(join(outdir, `${name}.gz`));
    const br = await readFile(join(outdir, `${name}.br`));
    assert.ok(zlib.gunzipSync(gz).equals(raw), `${name}.gz`);
    assert.ok(zlib.brotliDecompressSync(br).equals(raw), `${name}.br`);
    assert.ok(br.length < gz.length && gz.length < raw.length, name);
    assert.deepEqual(files[name], { raw: raw.length, gzip: gz.length, br: br.length });
  }
});

test("a page naming a file the build does not produce is an error", () => {
  const names = new Map([["app.js", "app-AAAAAAAA.js"]]);
  assert.equal(rewritePage('<script src="/static/app.js"></script>', names), '<script src="/static/app-AAAAAAAA.js"></script>');
  assert.throws(() => rewritePage('<link href="/static/app.css">', names, "room.html"), /room\.html refers to \/static\/app\.css/);
});

test("a copy that would not be smaller is not written", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sitroom-compress-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "tiny.txt.gz"), "stale");
  await writeFile(join(dir, "tiny.txt"), "a");
  assert.deepEqual(await compressFile(join(dir, "tiny.txt")), { raw: 1 });
  assert.deepEqual(await readdir(dir), ["tiny.txt"]);
});

test("watch mode rewrites the pages on a rebuild and removes the previous outputs", async (t) => {
  // A client of its own in a temporary folder, so that nothing of src/ is touched.
  const project = await mkdtemp(join(tmpdir(), "sitroom-watch-"));
  const outdir = join(project, "dist");
  await mkdir(join(project, "src", "styles"), { recursive: true });
  await writeFile(join(project, "src", "main.js"), 'document.title = "one";\n');
  await writeFile(join(project, "src", "styles", "index.css"), "body{color:red}\n");
  for (const page of PAGES) {
    await writeFile(join(project, page), '<link rel="stylesheet" href="/static/app.css"><script type="module" src="/static/app.js"></script>\n');
  }
  const watcher = await build({ root: project, watch: true });
  t.after(async () => {
    await watcher.stop();
    await rm(project, { recursive: true, force: true });
  });
  const first = watcher.names.get("app.js");
  const css = watcher.names.get("app.css");
  assert.ok(existsSync(join(outdir, first)));
  assert.ok(!existsSync(join(outdir, `${first}.br`)) && !existsSync(join(outdir, "room.html.gz")), "no copies in watch mode");

  await writeFile(join(project, "src", "main.js"), 'document.title = "two";\n');
  let page = "";
  for (let i = 0; i < 100 && (!page || page.includes(first)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    page = await readFile(join(outdir, "room.html"), "utf8");
  }
  const second = page.match(/\/static\/(app-[A-Z2-7]{8}\.js)/)[1];
  assert.notEqual(second, first);
  assert.match(await readFile(join(outdir, second), "utf8"), /two/);
  assert.ok(!existsSync(join(outdir, first)) && !existsSync(join(outdir, `${first}.map`)), "the previous bundle is gone");
  assert.ok(page.includes(`/static/${css}`) && existsSync(join(outdir, css)), "the unchanged stylesheet stays");
});
