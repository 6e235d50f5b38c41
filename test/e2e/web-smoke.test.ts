/**
 * The browser test support works together (test/e2e/web/): the real stack through scripts/start.mjs, chromium,
 * and the injected test wallet: the page sees the wallet (window.ethereum and EIP-6963), reads /config.json from the
 * web server, and the wallet signs and sends against the stack's chain. test/e2e/web.test.ts (the app's real flow)
 * supersedes this; delete it then.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { verifyTypedData, type Hex } from "viem";
import { launchBrowser } from "./web/browser";
import { startStack } from "./web/stack";
import { installWallet } from "./web/wallet";

test("web smoke: stack + chromium + test wallet", { timeout: 420_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  try {
    stack = await startStack();
    console.log(`# stack ready in ${stack.startupSeconds.toFixed(1)} s`);
    const page = await browser.newPage();
    const wallet = await installWallet(page, { privateKey: stack.accounts.renter.privateKey, rpcUrl: stack.rpcUrl, chainId: 31337 });
    await page.goto(stack.webUrl);
    const seen = await page.evaluate(async (address) => {
      const eth = (window as unknown as { ethereum: { request: (a: { method: string; params?: unknown[] }) => Promise<unknown> } }).ethereum;
      const announced: string[] = [];
      window.addEventListener("eip6963:announceProvider", (e) => announced.push((e as CustomEvent).detail.info.rdns));
      window.dispatchEvent(new Event("eip6963:requestProvider"));
      const config = await (await fetch("/config.json")).json();
      const hash = await eth.request({ method: "eth_sendTransaction", params: [{ from: address, to: address, value: "0x1" }] });
      const typed = { domain: { name: "PRSM", version: "1", chainId: 31337, verifyingContract: config.contracts.marketplace }, types: { EIP712Domain: [{ name: "name", type: "string" }, { name: "version", type: "string" }, { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" }], Ping: [{ name: "n", type: "uint256" }] }, primaryType: "Ping", message: { n: "7" } };
      const signature = await eth.request({ method: "eth_signTypedData_v4", params: [address, JSON.stringify(typed)] });
      return { chainId: await eth.request({ method: "eth_chainId" }), accounts: await eth.request({ method: "eth_requestAccounts" }), config, announced, hash, signature };
    }, wallet.address);
    assert.equal(seen.chainId, "0x7a69");
    assert.deepEqual(seen.accounts, [stack.accounts.renter.address]);
    assert.deepEqual([...new Set(seen.announced)], ["dev.prsm.testwallet"]); // the app may ask for providers too
    assert.equal(seen.config.chainId, 31337);
    assert.equal(seen.config.contracts.marketplace, stack.contracts.marketplace);
    assert.equal(wallet.transactions, 1);
    assert.match(String(seen.hash), /^0x[0-9a-f]{64}$/);
    const domain = { name: "PRSM", version: "1", chainId: 31337, verifyingContract: stack.contracts.marketplace as Hex };
    assert.ok(await verifyTypedData({ address: wallet.address, domain, types: { Ping: [{ name: "n", type: "uint256" }] }, primaryType: "Ping", message: { n: 7n }, signature: seen.signature as Hex }));
    assert.equal(wallet.signatures, 1);
  } finally {
    await browser.close();
    await stack?.stop();
  }
});
