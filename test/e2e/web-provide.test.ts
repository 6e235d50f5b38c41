/**
 * The Provide page end to end, against the real stack (test/e2e/web/stack.ts) in chromium with the injected test
 * wallet: hardhat account 5 (funded by the local deployment, no listing) lists a model from the form (the bond
 * approved, then `list`: two transactions, no signature), the indexer decodes the metadata the page built (name,
 * vendor, description, model, endpoint), the market shows the new listing, and the provider changes its price,
 * pauses it, delists it and sees why the bond cannot be withdrawn yet.
 *
 * Run: flock /tmp/prsm-heavy.lock bash scripts/test-e2e.sh test/e2e/web-provide.test.ts
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { launchBrowser } from "./web/browser";
import { startStack, type Stack } from "./web/stack";
import { installWallet } from "./web/wallet";

const MNEMONIC = "test test test test test test test test test test test junk";
/** Hardhat account 5: 100,000 FTNS from the local funding (deploy/06_local_funding.ts), no listing, no escrow. */
const PROVIDER_KEY = toHex(mnemonicToAccount(MNEMONIC, { addressIndex: 5 }).getHdKey().privateKey!) as Hex;
const STEP_TIMEOUT = 30_000;

let browser: Browser | undefined;
let stack: Stack | undefined;

after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${stack!.apiUrl.replace(/\/graphql.*$/, "")}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (json.errors?.length) throw new Error(json.errors[0]!.message);
  return json.data!;
}

async function enabled(page: Page, testId: string, timeout = STEP_TIMEOUT): Promise<void> {
  await page.waitForFunction((sel) => {
    const el = document.querySelector(sel) as HTMLButtonElement | null;
    return !!el && !el.disabled;
  }, `[data-testid="${testId}"]`, { timeout });
}

test("provide: a model listed from the Provide page shows on the market, then is repriced, paused and delisted", { timeout: 420_000 }, async (t) => {
  browser = await launchBrowser(t); // undefined: skipped (or failed when system packages are required)
  if (!browser) return;
  stack = await startStack();
  console.log(`# stack ready in ${stack.startupSeconds.toFixed(1)} s`);
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("pageerror", (e) => console.log(`# page error: ${e.message}`));
  const wallet = await installWallet(page, { privateKey: PROVIDER_KEY, rpcUrl: stack!.rpcUrl, chainId: 31337 });
  await page.goto(`${stack!.webUrl}/#/provide`);
  // wagmi may reconnect the test wallet by itself on load (it answers eth_accounts); else connect through the menu.
  const button = page.getByRole("button", { name: "Connect wallet" });
  const address = page.getByTestId("connected-address");
  await button.or(address).first().waitFor();
  if (!(await address.isVisible())) {
    await button.click();
    await page.getByRole("menuitem", { name: /PRSM Test Wallet/ }).click();
  }
  await address.waitFor();
  assert.match((await address.getAttribute("title")) ?? "", new RegExp(wallet.address, "i"));

  const name = `E2E Provided Model ${Date.now().toString(36)}`;
  await page.getByTestId("list-name").fill(name);
  await page.getByTestId("list-vendor").fill("E2E Labs");
  await page.getByTestId("list-description").fill("listed from the browser test — ünïcode kept");
  await page.getByTestId("list-category").selectOption({ label: "code" });
  await page.getByTestId("list-unit").selectOption("1");
  await page.getByTestId("list-model").fill("e2e-model-1");
  await page.getByTestId("list-endpoint").fill("https://gateway.e2e.example");
  await page.getByTestId("list-price").fill("0.25");
  await enabled(page, "list-submit");
  await page.getByTestId("list-submit").click();
  const done = page.getByTestId("list-done");
  await done.waitFor({ timeout: 60_000 });
  const id = (await done.textContent())!.match(/listing (\d+)/)![1]!;
  assert.equal(wallet.transactions, 2, "approve the bond, then list");
  assert.equal(wallet.signatures, 0);

  // The indexer decoded the data: URI the page built.
  type Indexed = { name: string; vendor: string; description: string; categoryName: string; unit: number; pricePerUnit: string; bond: string; metadata: Record<string, unknown>; metadataError: string | null };
  let listing: Indexed | null = null;
  for (let i = 0; i < 60 && !listing; i++) {
    listing = (await gql<{ listing: Indexed | null }>(`query($id: BigInt!) { listing(id: $id) { name vendor description categoryName unit pricePerUnit bond metadata metadataError } }`, { id })).listing;
    if (!listing) await new Promise((r) => setTimeout(r, 500));
  }
  if (!listing) throw new Error(`listing ${id} was not indexed within 30 s`);
  assert.equal(listing.metadataError, null);
  assert.equal(listing.name, name);
  assert.equal(listing.vendor, "E2E Labs");
  assert.equal(listing.description, "listed from the browser test — ünïcode kept");
  assert.equal(listing.categoryName, "code");
  assert.equal(listing.unit, 1);
  assert.equal(listing.pricePerUnit, (25n * 10n ** 16n).toString());
  assert.equal(listing.bond, (100n * 10n ** 18n).toString(), "the local minimum provider bond");
  assert.equal(listing.metadata.model, "e2e-model-1");
  assert.equal(listing.metadata.endpoint, "https://gateway.e2e.example");
  assert.equal(listing.metadata.unit, "Request");

  // On the market.
  await page.getByRole("link", { name: `See listing ${id} on the market` }).waitFor();
  await page.goto(`${stack!.webUrl}/#/`);
  await page.locator(`[data-listing-id="${id}"]`).getByText(name).waitFor({ timeout: 30_000 });

  // Manage it.
  await page.goto(`${stack!.webUrl}/#/provide`);
  await page.getByTestId(`listing-${id}`).waitFor({ timeout: 30_000 });
  await page.getByTestId(`price-input-${id}`).fill("0.3");
  await page.getByTestId(`set-price-${id}`).click();
  await page.waitForFunction((sel) => /0\.3 FTNS/.test(document.querySelector(sel)?.textContent ?? ""), `[data-testid="listing-price-${id}"]`, { timeout: 30_000 });
  await page.getByTestId(`pause-${id}`).click();
  await page.waitForFunction((sel) => /paused/.test(document.querySelector(sel)?.textContent ?? ""), `[data-testid="listing-status-${id}"]`, { timeout: 30_000 });
  await page.getByTestId(`resume-${id}`).waitFor();
  await page.getByTestId(`delist-${id}`).click();
  await page.getByTestId(`delist-confirm-${id}`).click();
  await page.waitForFunction((sel) => /delisted/.test(document.querySelector(sel)?.textContent ?? ""), `[data-testid="listing-status-${id}"]`, { timeout: 30_000 });
  const locked = page.getByTestId(`bond-locked-${id}`);
  await locked.waitFor();
  assert.match((await locked.textContent()) ?? "", /unbonding until/);
  assert.equal(await page.getByTestId(`withdraw-bond-${id}`).isDisabled(), true);
  assert.equal(wallet.transactions, 5, "approve, list, setPrice, pause, delist");
  await page.close();
});
