// Builds the browser client into dist/: app.js and app.css (minified, with sourcemaps) and the
// HTML pages. Usage: `npm run build` (once) or `npm run watch` (rebuild on change).
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const pages = ["index.html", "room.html"];
const watch = process.argv.includes("--watch");

const options = {
  absWorkingDir: root,
  entryPoints: [
    { in: "src/main.js", out: "app" },
    { in: "src/styles/index.css", out: "app" },
  ],
  outdir: dist,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  logLevel: "warning",
  plugins: [
    {
      name: "copy-pages",
      setup(build) {
        build.onEnd(async (result) => {
          if (result.errors.length) return;
          await Promise.all(pages.map((p) => copyFile(join(root, p), join(dist, p))));
        });
      },
    },
  ],
};

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching client_web/src for changes");
} else {
  await esbuild.build(options);
}
