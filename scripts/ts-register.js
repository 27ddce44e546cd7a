/**
 * A minimal TypeScript loader for the offline plan: compiles each .ts file with esbuild as Node requires it.
 *
 * Why not tsx (used by the other scripts): tsx hooks every module resolution, and @pulumi/pulumi with
 * @pulumi/digitalocean load hundreds of modules; measured on this 2-core machine, `npm run plan -- --stack prod`
 * took 2.9 s under `node --import tsx` and 1.7 s with this hook. Node's own resolver finds `./x.ts` once `.ts` is a
 * registered extension, so nothing else needs hooking. Type checking stays with `tsc --noEmit` (npm test).
 */
"use strict";
const { transformSync } = require("esbuild");
const { readFileSync } = require("node:fs");

require.extensions[".ts"] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, "utf8"), {
    loader: "ts",
    format: "cjs",
    target: "node20",
    sourcefile: filename,
    sourcemap: "inline",
  });
  module._compile(code, filename);
};
