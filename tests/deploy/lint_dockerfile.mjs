// Lints deploy/docker/Dockerfile with dockerfile-utils' validator, every
// check raised to an error: the test fails on any diagnostic at all.
// Usage: node lint_dockerfile.mjs DOCKERFILE...
import fs from "node:fs";
import { validate, ValidationSeverity } from "dockerfile-utils";

const strict = Object.fromEntries([
  "deprecatedMaintainer", "directiveCasing", "emptyContinuationLine",
  "instructionCasing", "instructionCmdMultiple", "instructionEntrypointMultiple",
  "instructionHealthcheckMultiple", "instructionJSONInSingleQuotes",
  "instructionWorkdirRelative",
].map((k) => [k, ValidationSeverity.ERROR]));

let problems = 0;
for (const file of process.argv.slice(2)) {
  const diagnostics = validate(fs.readFileSync(file, "utf8"), strict);
  for (const d of diagnostics) {
    console.log(`${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.message}`);
  }
  problems += diagnostics.length;
}
console.log(`${process.argv.length - 2} Dockerfile(s), ${problems} problem(s)`);
process.exit(problems || process.argv.length < 3 ? 1 : 0);
