/**
 * Chromium for browser tests: Debian's `chromium` package (/usr/bin/chromium, or CHROMIUM_PATH), driven by
 * playwright-core, which downloads nothing. Without it a test is skipped loudly, and fails under
 * PRSM_REQUIRE_SYSTEM_PACKAGES=1 (.ci/run installs it): test/support/system-package.ts.
 *
 *   const browser = await launchBrowser(t);   // undefined: skipped (the banner says why)
 *   if (!browser) return;
 *   try { const page = await browser.newPage(); ... } finally { await browser.close(); }
 */
import fs from "node:fs";
import type { TestContext } from "node:test";
import { chromium, type Browser, type LaunchOptions } from "playwright-core";
import { findBinary, missingReason, REQUIRE_SYSTEM_PACKAGES, systemBinary } from "../../support/system-package";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/**
 * The chromium binary: CHROMIUM_PATH if set (it must exist), else /usr/bin/chromium, else `chromium` on PATH.
 * With a test context, a missing binary skips the test loudly (or fails it when system packages are required) and
 * returns undefined; without one it throws.
 */
export function chromiumPath(t?: TestContext): string | undefined {
  const configured = process.env.CHROMIUM_PATH?.trim();
  if (configured) {
    if (fs.existsSync(configured)) return configured;
    throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
  }
  if (fs.existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  if (t) return systemBinary(t, "chromium");
  const why = "chromium is not installed (Debian: apt-get install chromium)";
  throw new Error(REQUIRE_SYSTEM_PACKAGES ? `${why}; PRSM_REQUIRE_SYSTEM_PACKAGES=1 requires it (.ci/run installs it)` : why);
}

/**
 * For a suite that launches one browser in its `before` hook: why chromium cannot be found (each test then skips
 * loudly with it), or undefined when it can. A CHROMIUM_PATH that does not exist throws, as does a missing chromium
 * under PRSM_REQUIRE_SYSTEM_PACKAGES=1.
 */
export function chromiumMissing(): string | undefined {
  if (process.env.CHROMIUM_PATH?.trim() || fs.existsSync("/usr/bin/chromium")) return chromiumPath() ? undefined : "chromium not found";
  return findBinary("chromium") ? undefined : missingReason("chromium");
}

/** A headless chromium (no sandbox: containers and CI run as root), or undefined when `t` was skipped. */
export async function launchBrowser(t?: TestContext, options: LaunchOptions = {}): Promise<Browser | undefined> {
  const executablePath = chromiumPath(t);
  if (!executablePath) return undefined;
  return chromium.launch({
    executablePath,
    headless: true,
    ...options,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    // Debian's /usr/bin/chromium is a shell wrapper that execs the real binary; give it time on a busy machine.
    timeout: options.timeout ?? 60_000,
  });
}
