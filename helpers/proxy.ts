import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { Deployment } from "hardhat-deploy/types";
import { Interface } from "ethers";

export interface UupsDeployOptions {
  /** Contract (artifact) name of the implementation; defaults to the deployment name. */
  contract?: string;
  /** Constructor arguments of the implementation (immutables shared by every proxy of it). */
  implementationArgs?: unknown[];
  /** Initializer called through the proxy's constructor, so the proxy is never left uninitialised. */
  initializer: { method: string; args: unknown[] };
  /**
   * ABIs of contracts the implementation delegates to (its fallback's modules): merged into the saved ABI, so clients
   * call every function of the proxy through one deployment file.
   */
  delegateAbis?: unknown[][];
}

/**
 * Deploys `<name>_Implementation` and, the first time only, `<name>_Proxy` (an ERC-1967 proxy initialised in
 * its constructor), then saves `<name>` with the implementation's ABI at the proxy's address.
 *
 * When the implementation's code has changed since the proxy was deployed, the new implementation is deployed
 * but NOT switched to: upgrades belong to governance, so the script prints what the timelock must execute.
 * (hardhat-deploy's own UUPS mode would try to upgrade from the deployer's key, which holds no upgrade role.)
 */
export async function deployUupsProxy(
  hre: HardhatRuntimeEnvironment,
  name: string,
  options: UupsDeployOptions,
): Promise<Deployment> {
  const { deployments, getNamedAccounts } = hre;
  const { deployer } = await getNamedAccounts();
  const contract = options.contract ?? name;

  const implementation = await deployments.deploy(`${name}_Implementation`, {
    contract,
    from: deployer,
    args: options.implementationArgs ?? [],
    log: true,
    waitConfirmations: hre.network.live ? 2 : 1,
  });

  const existingProxy = await deployments.getOrNull(`${name}_Proxy`);
  if (existingProxy) {
    const current = await readImplementation(hre, existingProxy.address);
    if (current.toLowerCase() !== implementation.address.toLowerCase()) {
      deployments.log(
        `${name}: implementation ${implementation.address} is deployed but the proxy still points at ${current}.\n` +
          `  Upgrade through governance: propose ${name}.upgradeToAndCall(${implementation.address}, 0x) to the timelock.`,
      );
    }
    return saveProxied(hre, name, existingProxy, implementation, current, options.delegateAbis);
  }

  const initData = new Interface(implementation.abi).encodeFunctionData(
    options.initializer.method,
    options.initializer.args,
  );
  const proxy = await deployments.deploy(`${name}_Proxy`, {
    contract: "ProtocolProxy",
    from: deployer,
    args: [implementation.address, initData],
    log: true,
    waitConfirmations: hre.network.live ? 2 : 1,
  });
  return saveProxied(hre, name, proxy, implementation, implementation.address, options.delegateAbis);
}

async function saveProxied(
  hre: HardhatRuntimeEnvironment,
  name: string,
  proxy: Deployment,
  implementation: Deployment,
  activeImplementation: string,
  delegateAbis: unknown[][] = [],
): Promise<Deployment> {
  const deployment: Deployment = {
    ...proxy,
    abi: mergeAbis(implementation.abi, ...delegateAbis),
    implementation: activeImplementation,
    devdoc: implementation.devdoc,
    userdoc: implementation.userdoc,
  };
  await hre.deployments.save(name, deployment);
  return deployment;
}

type AbiItem = { type: string; name?: string; inputs?: { type: string }[] };

/**
 * `base` plus every function, event and error of `delegates` it lacks (constructors, fallbacks and receives stay
 * the base's own). A delegate function whose selector the base already has would never be reached through the
 * proxy (the implementation's own function wins), so that is an error, not something to merge.
 */
export function mergeAbis(base: unknown[], ...delegates: unknown[][]): unknown[] {
  const merged = [...base] as AbiItem[];
  const baseInterface = new Interface(base as never);
  const seen = new Set(merged.filter((f) => f.name).map((f) => signatureOf(f)));
  for (const abi of delegates) {
    for (const item of abi as AbiItem[]) {
      if (!["function", "event", "error"].includes(item.type)) continue;
      const signature = signatureOf(item);
      if (item.type === "function") {
        const selector = Interface.from([item as never]).getFunction(item.name!)!.selector;
        if (baseInterface.getFunction(selector)) {
          throw new Error(`delegated function ${signature} (${selector}) is shadowed by the implementation's own`);
        }
      }
      if (seen.has(signature)) continue;
      seen.add(signature);
      merged.push(item);
    }
  }
  return merged;
}

function signatureOf(item: AbiItem): string {
  return `${item.type} ${item.name}(${(item.inputs ?? []).map((i) => canonicalType(i)).join(",")})`;
}

function canonicalType(input: { type: string; components?: { type: string }[] }): string {
  if (!input.type.startsWith("tuple")) return input.type;
  return `(${(input.components ?? []).map((c) => canonicalType(c)).join(",")})${input.type.slice("tuple".length)}`;
}

// ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
const IMPLEMENTATION_SLOT = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";

export async function readImplementation(hre: HardhatRuntimeEnvironment, proxy: string): Promise<string> {
  const raw = await hre.ethers.provider.getStorage(proxy, IMPLEMENTATION_SLOT);
  return hre.ethers.getAddress(`0x${raw.slice(-40)}`);
}
