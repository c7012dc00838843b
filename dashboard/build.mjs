// Bundles src/ into the Python package's static files, which the app serves at
// /dashboard. `make install` runs this (npm ci && npm run build); the output is
// git-ignored and carried by wheels (hatch `artifacts`).
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "inferql", "static", "dashboard");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["es2020"],
  legalComments: "none",
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) {
  await copyFile(join(here, "src", file), join(out, file));
}
console.log(`dashboard built into ${out}`);
