// Bundles src/ into the Python package's static files, which the app serves at
// /dashboard. `make install` runs this (npm ci && npm run build); the output is
// git-ignored and carried by wheels (hatch `artifacts`).
import { createHash } from "node:crypto";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import * as operations from "./src/operations.js";

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
// The page's operations as a flat manifest {sha256: document}, for servers that
// run only registered operations (INFERQL_ALLOWED_OPERATIONS_PATH).
const manifest = Object.fromEntries(
  Object.values(operations).map((doc) => [createHash("sha256").update(doc).digest("hex"), doc]),
);
await writeFile(join(out, "operations.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`dashboard built into ${out}`);
