/**
 * The browser app end to end, against the real stack (scripts/start.mjs through test/e2e/web/stack.ts), in Debian's
 * chromium with the injected test wallet (test/e2e/web/wallet.ts). One stack start for everything:
 *
 *   governance  the voter (account 2) connects, votes For on the sample proposal, sees the tally move (first: the
 *               local voting period is 5 minutes from the stack's start)
 *   API down    /graphql routed to fail: a readable "not reachable" message, the page (nav, wallet) still there
 *   wrong chain the wallet moves to chain 1: the banner with a Switch button, which switches it back
 *   rejection   the permit signature is declined: a readable message, no transaction sent
 *   rent + chat account 3 (funded by the local deployment, no escrow yet): the market shows the eight launch
 *               listings and the demo model; an escrow with a permit on the demo listing (ONE wallet signature,
 *               ONE transaction); three chat messages signed by the browser's session key; the answers and usage
 *               shown; the settled charges appear (the local stack settles after ~5 s)
 *   exhausted   an escrow with a tiny spend cap, chatted on until the orchestrator answers 402: a readable message
 *   provide     account 5 lists a model from the Provide page (metadata built in the page, decoded by the indexer),
 *               sees it on the market, reprices, pauses and delists it
 *   close+rate  chain time moved past the expiry and grace (evm_increaseTime + evm_mine), the escrow closed and rated
 *               from the Account page
 *
 * Screenshots go to test-results/web/<nn>-<step>.png and, when the whole flow passed, are copied to docs/screenshots/.
 * Run: flock /tmp/prsm-heavy.lock bash scripts/test-e2e.sh test/e2e/web.test.ts
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { chromiumMissing, launchBrowser } from "./web/browser";
import { skipLoudly } from "../support/system-package";
import { startStack, type Stack } from "./web/stack";
import { installWallet, type WalletController } from "./web/wallet";

const ROOT = path.resolve(__dirname, "..", "..");
const SHOTS = path.join(ROOT, "test-results", "web");
const DOCS_SHOTS = path.join(ROOT, "docs", "screenshots");
const MNEMONIC = "test test test test test test test test test test test junk";
/** Hardhat account 3: holds 100,000 FTNS from the local funding (deploy/06_local_funding.ts), no escrow, no role. */
const RENTER3_KEY = toHex(mnemonicToAccount(MNEMONIC, { addressIndex: 3 }).getHdKey().privateKey!) as Hex;
/** Hardhat account 4: the error-state scenarios' renter (its own nonces and permits). */
const RENTER4_KEY = toHex(mnemonicToAccount(MNEMONIC, { addressIndex: 4 }).getHdKey().privateKey!) as Hex;
const LAUNCH_LISTINGS = 8;
const STEP_TIMEOUT = 30_000;

let browser: Browser | undefined;
let stack: Stack | undefined;
/** Why the browser tests cannot run here (chromium missing), once known. */
let skipped: string | undefined;
const contexts: BrowserContext[] = [];
const shots: string[] = [];
let shotNumber = 0;
let mainFlowPassed = false;
/** The main flow's escrow (closed and rated in the last test). */
let mainEscrow: string | undefined;
let mainPage: Page | undefined;
let mainWallet: WalletController | undefined;

let lastPage: Page | undefined;
let failures = 0;

/** On failure, a screenshot of the page the test was on (test-results/web/fail-<n>.png) before the error. */
function guarded(fn: (t: TestContext) => Promise<void>): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn(t);
    } catch (error) {
      if (lastPage && !lastPage.isClosed()) {
        fs.mkdirSync(SHOTS, { recursive: true });
        await lastPage.screenshot({ path: path.join(SHOTS, `fail-${++failures}.png`), fullPage: true }).catch(() => undefined);
        console.log(`# failed on ${lastPage.url()}: ${(await lastPage.locator("main").innerText().catch(() => "")).slice(0, 800)}`);
      }
      throw error;
    }
  };
}

async function shot(page: Page, step: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${String(++shotNumber).padStart(2, "0")}-${step}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(stack!.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const json = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (json.error) throw new Error(`${method}: ${json.error.message}`);
  return json.result;
}

/** A fresh browser context (own localStorage) with the test wallet on `privateKey`, at the app's `hash`. */
async function open(privateKey: Hex, hash = "#/"): Promise<{ page: Page; wallet: WalletController }> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  lastPage = page;
  page.setDefaultTimeout(STEP_TIMEOUT);
  const wallet = await installWallet(page, { privateKey, rpcUrl: stack!.rpcUrl, chainId: 31337 });
  page.on("pageerror", (e) => console.log(`# page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.log(`# console ${m.type()}: ${m.text().slice(0, 300)}`);
  });
  await page.goto(`${stack!.webUrl}/${hash}`);
  return { page, wallet };
}

async function connect(page: Page, wallet: WalletController): Promise<void> {
  // A wallet that already authorized the site (the test wallet answers eth_accounts) may be reconnected by wagmi on
  // load; otherwise connect through the menu, choosing the EIP-6963 wallet by name.
  const button = page.getByRole("button", { name: "Connect wallet" });
  const address = page.getByTestId("connected-address");
  await button.or(address).first().waitFor().catch(async (error) => {
    console.log(`# page text: ${(await page.locator("body").innerText()).slice(0, 1500)}`);
    throw error;
  });
  if (!(await address.isVisible())) {
    await button.click();
    await page.getByRole("menuitem", { name: /PRSM Test Wallet/ }).click();
  }
  await address.waitFor();
  assert.match((await address.getAttribute("title")) ?? "", new RegExp(wallet.address, "i"));
}

/** Fills the Rent form of the listing page that is open and submits it. */
async function rent(page: Page, terms: { deposit: string; spendCap?: string; duration?: string }): Promise<void> {
  const form = page.getByRole("form", { name: "Rent this model" });
  await form.locator('input[name="deposit"]').fill(terms.deposit);
  await form.locator('input[name="spendCap"]').fill(terms.spendCap ?? "");
  if (terms.duration) await form.locator('select[name="duration"]').selectOption({ label: terms.duration });
  await form.getByRole("button", { name: "Open escrow and chat" }).click();
}

async function sendMessage(page: Page, text: string, answersBefore: number): Promise<void> {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  // The answer is in when its usage line (checked report) or an error shows and the button is back.
  await page.waitForFunction(
    (n) => {
      const answers = document.querySelectorAll('.msg[data-role="assistant"]');
      const last = answers[answers.length - 1];
      return answers.length > n && !!last && (!!last.querySelector('[data-testid="usage"]') || !!last.querySelector('[role="alert"]'));
    },
    answersBefore,
    { timeout: 60_000 },
  );
}

before(async () => {
  skipped = chromiumMissing();
  if (skipped) return;
  browser = await launchBrowser();
  if (!browser) {
    skipped = "chromium did not start";
    return;
  }
  stack = await startStack();
  console.log(`# stack ready in ${stack.startupSeconds.toFixed(1)} s at ${stack.webUrl}`);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await stack?.stop();
  if (mainFlowPassed && shots.length) {
    fs.mkdirSync(DOCS_SHOTS, { recursive: true });
    for (const f of fs.readdirSync(DOCS_SHOTS)) if (f.endsWith(".png")) fs.rmSync(path.join(DOCS_SHOTS, f));
    for (const f of shots) fs.copyFileSync(f, path.join(DOCS_SHOTS, path.basename(f)));
  }
});

test("governance: the voter votes on the sample proposal and sees the tally move", { timeout: 90_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const t0 = Date.now();
  const step = (what: string) => console.log(`# governance: ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { page, wallet } = await open(stack!.accounts.voter.privateKey, "#/governance");
  await connect(page, wallet);
  step("connected");
  const id = stack!.proposalId.toString();
  const forTally = page.getByTestId(`tally-for-${id}`);
  await forTally.waitFor();
  step("tally shown");
  // The proposal becomes active 10 s after the stack created it.
  const voteFor = page.getByTestId(`vote-for-${id}`);
  await voteFor.waitFor();
  step("vote button shown");
  await page.waitForFunction((sel) => !(document.querySelector(sel) as HTMLButtonElement | null)?.disabled, `[data-testid="vote-for-${id}"]`, { timeout: 30_000 });
  step("vote button enabled");
  const before = (await forTally.textContent())!.trim();
  await shot(page, "governance-before-vote");
  await voteFor.click();
  await page.waitForFunction(([sel, old]) => (document.querySelector(sel!)?.textContent ?? "").trim() !== old, [`[data-testid="tally-for-${id}"]`, before] as const, { timeout: 30_000 });
  step("tally moved");
  const after = (await forTally.textContent())!.trim();
  assert.notEqual(after, before);
  assert.equal(wallet.transactions, 1);
  await shot(page, "governance-voted");
}));

test("API down: a readable message and the page still renders", { timeout: 60_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  lastPage = page;
  await page.route("**/graphql**", (route) => route.abort("connectionrefused"));
  await page.goto(`${stack!.webUrl}/#/`);
  await page.getByText(/The PRSM API is not reachable/).waitFor({ timeout: 30_000 });
  assert.ok(await page.getByRole("navigation", { name: "Main" }).isVisible());
  assert.ok(await page.getByRole("button", { name: "Connect wallet" }).isVisible());
  assert.equal(await page.locator("text=/at .*\\.js:\\d+/").count(), 0, "no stack trace on the page");
  await shot(page, "api-down");
}));

test("wrong chain: the banner's Switch button moves the wallet back", { timeout: 60_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const { page, wallet } = await open(RENTER4_KEY);
  await connect(page, wallet);
  await wallet.setChain(1);
  const banner = page.getByTestId("wrong-network");
  await banner.waitFor();
  assert.match((await banner.textContent()) ?? "", /network 1/);
  await shot(page, "wrong-network");
  await banner.getByRole("button", { name: /Switch to/ }).click();
  await banner.waitFor({ state: "detached" });
  assert.equal(wallet.chainId, 31337);
}));

test("wallet rejection: declining the permit shows a sentence and sends nothing", { timeout: 60_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const { page, wallet } = await open(RENTER4_KEY, `#/listing/${stack!.demoListing}`);
  await connect(page, wallet);
  wallet.rejectNext("eth_signTypedData_v4");
  await rent(page, { deposit: "1" });
  const error = page.getByTestId("rent-error");
  await error.waitFor();
  assert.match((await error.textContent()) ?? "", /declined the request in your wallet/);
  assert.equal(wallet.transactions, 0);
  assert.equal(wallet.signatures, 0);
  await shot(page, "permit-rejected");
}));

test("rent and chat: one signature opens an escrow, three streamed answers, settled charges", { timeout: 150_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const { page, wallet } = await open(RENTER3_KEY);
  mainPage = page;
  mainWallet = wallet;
  await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
  const rows = page.locator("table.listings tbody tr");
  await rows.first().waitFor();
  const names = await page.locator("table.listings .model-name").allTextContents();
  assert.ok(names.length >= LAUNCH_LISTINGS + 1, `the market shows ${names.length} listings: ${names.join(", ")}`);
  const demo = page.locator(`tr[data-listing-id="${stack!.demoListing}"] .model-name`);
  const demoName = (await demo.textContent())!.trim();
  assert.ok(demoName && !/^Listing #/.test(demoName), `the demo listing shows its name (${demoName})`);
  for (let id = 1; id <= LAUNCH_LISTINGS; id++) {
    const name = (await page.locator(`tr[data-listing-id="${id}"] .model-name`).textContent())!.trim();
    assert.ok(name && !/^Listing #/.test(name), `launch listing ${id} shows its name (${name})`);
  }
  await connect(page, wallet);
  await shot(page, "market");

  // Search narrows the list to the demo model.
  await page.getByLabel("Search by name").fill(demoName.slice(0, 6));
  assert.ok((await rows.count()) >= 1);
  await shot(page, "market-search");
  await page.getByLabel("Search by name").fill("");
  // Filters: one category, then a maximum price (the launch plan's cheapest token listings cost at most 0.00001).
  await page.getByLabel("Category").selectOption("image");
  assert.deepEqual((await page.locator("table.listings .model-name").allTextContents()).length, 2, "two image listings (DALL-E 3, Stable Diffusion XL)");
  await page.getByLabel("Category").selectOption("");
  await page.getByLabel("Maximum price per unit").fill("0.00001");
  const cheap = await page.locator("table.listings tbody tr").count();
  assert.ok(cheap >= 1 && cheap < names.length, `the price filter keeps ${cheap} of ${names.length}`);
  await page.getByLabel("Maximum price per unit").fill("");

  await demo.click();
  await page.getByRole("heading", { name: demoName }).waitFor();
  await shot(page, "listing");
  await rent(page, { deposit: "5", duration: "1 hour" });
  await page.waitForURL(/#\/chat\/\d+$/, { timeout: 60_000 });
  mainEscrow = page.url().match(/#\/chat\/(\d+)$/)![1]!;
  assert.equal(wallet.signatures, 1, "one permit signature");
  assert.equal(wallet.transactions, 1, "one transaction");
  await page.getByTestId("session-key").waitFor();
  assert.doesNotMatch((await page.getByTestId("session-key").textContent()) ?? "", /none/);

  const questions = [
    "Shares rose 4% on Tuesday after record revenue at Acme Corp.",
    "The new phone's battery life is disappointing and the screen scratches easily.",
    "Summarize: Paris is the capital of France. It is known for the Eiffel Tower and its museums.",
  ];
  for (let i = 0; i < questions.length; i++) {
    await sendMessage(page, questions[i]!, i);
    await shot(page, `chat-answer-${i + 1}`);
  }
  const answers = page.locator('.msg[data-role="assistant"]');
  assert.equal(await answers.count(), 3);
  for (let i = 0; i < 3; i++) {
    const a = answers.nth(i);
    assert.equal(await a.locator('[role="alert"]').count(), 0, `answer ${i + 1} has no error: ${await a.textContent()}`);
    assert.ok(((await a.textContent()) ?? "").length > 20, `answer ${i + 1} has text`);
    assert.match((await a.getByTestId("usage").textContent()) ?? "", /\d+ tokens · .*FTNS/);
  }
  assert.equal(wallet.signatures, 1, "no wallet signature per message");
  assert.equal(wallet.transactions, 1);

  // The committee settles after ~5 s; the page polls the API.
  await page.getByTestId("charges").waitFor({ timeout: 60_000 });
  assert.ok((await page.locator('[data-testid="charges"] tbody tr').count()) >= 1);
  await shot(page, "chat-charges-settled");
  mainFlowPassed = true;
}));

test("exhausted escrow: a tiny spend cap ends in a readable 402 message", { timeout: 120_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const { page, wallet } = await open(RENTER4_KEY, `#/listing/${stack!.demoListing}`);
  await connect(page, wallet);
  // 0.01 FTNS pays for about 100 tokens of the demo model: one short answer at most.
  await rent(page, { deposit: "0.01", spendCap: "0.01", duration: "1 hour" });
  await page.waitForURL(/#\/chat\/\d+$/, { timeout: 60_000 });
  let seen = false;
  for (let i = 0; i < 5 && !seen; i++) {
    await sendMessage(page, `Message ${i + 1}: the quarterly report shows revenue growth in every region, with strong demand for cloud services.`, i);
    seen = (await page.getByText(/spend cap is used up/).count()) > 0;
  }
  assert.ok(seen, "the exhausted-escrow message is shown");
  assert.equal(await page.locator("text=/at .*\\.(js|ts):\\d+/").count(), 0, "no stack trace on the page");
  await shot(page, "escrow-exhausted");
  // The session key is revoked on chain (one transaction) and the page says so.
  const transactions = wallet.transactions;
  await page.getByRole("button", { name: "Revoke session key" }).click();
  await page.getByTestId("session-key").getByText("(revoked)").waitFor({ timeout: 60_000 });
  assert.equal(wallet.transactions, transactions + 1);
  await shot(page, "session-key-revoked");
}));

/** Hardhat account 5: 100,000 FTNS from the local funding, no listing, no escrow: the Provide page's provider. */
const PROVIDER5_KEY = toHex(mnemonicToAccount(MNEMONIC, { addressIndex: 5 }).getHdKey().privateKey!) as Hex;

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

test("provide: a model listed from the Provide page shows on the market, then is repriced, paused and delisted", { timeout: 150_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  const { page, wallet } = await open(PROVIDER5_KEY, "#/provide");
  await connect(page, wallet);
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
  await shot(page, "provide-delisted");
}));

test("close and rate: after the expiry the escrow is closed and rated from the Account page", { timeout: 120_000 }, guarded(async (t) => {
  if (skipped) return skipLoudly(t, skipped);
  if (!mainEscrow || !mainPage || !mainWallet) return t.skip("the rent-and-chat flow did not open an escrow");
  const page = mainPage;
  // Past the 1-hour expiry and the local 60 s settlement grace.
  await rpc("evm_increaseTime", [3_600 + 120]);
  await rpc("evm_mine");
  await page.goto(`${stack!.webUrl}/#/account`);
  const close = page.getByTestId(`close-${mainEscrow}`);
  await close.waitFor();
  await page.waitForFunction((sel) => !(document.querySelector(sel) as HTMLButtonElement | null)?.disabled, `[data-testid="close-${mainEscrow}"]`, { timeout: 30_000 });
  await shot(page, "account-before-close");
  await close.click();
  const rate = page.getByTestId(`rate-${mainEscrow}`);
  await rate.waitFor({ timeout: 60_000 });
  await page.getByTestId(`rate-score-${mainEscrow}`).selectOption("5");
  await rate.click();
  await page.getByTestId(`rating-${mainEscrow}`).waitFor({ timeout: 60_000 });
  assert.equal(mainWallet.signatures, 1, "closing and rating are transactions, not signatures");
  assert.equal(mainWallet.transactions, 3, "open, close, rate");
  await shot(page, "account-closed-rated");
}));
