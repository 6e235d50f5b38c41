/**
 * Tests that need a system package (redis-server, chromium) find it here. On a machine without it the test is
 * skipped LOUDLY (a banner on stderr naming the package and how to install it), so `npm test` still passes on a
 * fresh machine with only Node 20; `.ci/run` installs the packages and sets PRSM_REQUIRE_SYSTEM_PACKAGES=1, which
 * turns the skip into a failure, so CI always runs these tests.
 */
import { execFileSync } from "node:child_process";
import type { TestContext } from "node:test";

export const REQUIRE_SYSTEM_PACKAGES = process.env.PRSM_REQUIRE_SYSTEM_PACKAGES === "1";

/** The binary's path on PATH, or undefined. */
export function findBinary(binary: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${binary}`], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim() || undefined;
  } catch {
    return undefined; // not on PATH
  }
}

/** Why `binary` is missing; throws instead when the packages are required (CI). */
export function missingReason(binary: string, aptPackage = binary): string {
  const why = `${binary} is not installed (Debian: apt-get install ${aptPackage})`;
  if (REQUIRE_SYSTEM_PACKAGES) throw new Error(`${why}; PRSM_REQUIRE_SYSTEM_PACKAGES=1 requires it (.ci/run installs it)`);
  return why;
}

/** Skips `t` with a banner on stderr naming what is missing and how to install it. */
export function skipLoudly(t: TestContext, why: string): void {
  const line = "!".repeat(100);
  process.stderr.write(`\n${line}\n!! SKIPPED: "${t.name}"\n!! because ${why}.\n!! Install it to run this test; CI sets PRSM_REQUIRE_SYSTEM_PACKAGES=1 and fails instead.\n${line}\n\n`);
  t.skip(`SKIPPED: ${why}`);
}

/** The binary's path, or undefined after skipping `t` (or throws when the packages are required). */
export function systemBinary(t: TestContext, binary: string, aptPackage = binary): string | undefined {
  const found = findBinary(binary);
  if (found) return found;
  skipLoudly(t, missingReason(binary, aptPackage));
  return undefined;
}
