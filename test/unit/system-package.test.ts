/**
 * The system-package convention (test/support/system-package.ts): a missing binary skips a test loudly, and fails it
 * when PRSM_REQUIRE_SYSTEM_PACKAGES=1 (what .ci/run sets). Each case runs a tiny test file in a child process with
 * the variable set or not, and reads the child's own summary.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

function runChild(binary: string, require: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-syspkg-"));
  const file = path.join(dir, "child.test.ts");
  fs.writeFileSync(
    file,
    `import { test } from "node:test";\nimport { systemBinary } from ${JSON.stringify(path.join(ROOT, "test", "support", "system-package"))};\n` +
      `test("needs ${binary}", (t) => { const bin = systemBinary(t, ${JSON.stringify(binary)}); if (bin) console.log("FOUND " + bin); });\n`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, PRSM_REQUIRE_SYSTEM_PACKAGES: require ? "1" : "" };
  delete env.NODE_TEST_CONTEXT; // else the child reports to this runner instead of printing its own summary
  const run = spawnSync(process.execPath, ["--import", "tsx", "--test", file], { cwd: ROOT, env, encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  return run;
}

describe("system packages in tests", () => {
  test("absent: skipped with a banner naming the package", () => {
    const run = runChild("prsm-no-such-binary", false);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /# skipped 1/);
    assert.match(run.stdout + run.stderr, /SKIPPED: "needs prsm-no-such-binary"[\s\S]*apt-get install prsm-no-such-binary/);
  });

  test("absent with PRSM_REQUIRE_SYSTEM_PACKAGES=1: the test fails", () => {
    const run = runChild("prsm-no-such-binary", true);
    assert.notEqual(run.status, 0);
    assert.match(run.stdout, /# fail 1/);
  });

  test("present: found, not skipped", () => {
    const run = runChild("sh", true);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /FOUND \//);
  });
});
