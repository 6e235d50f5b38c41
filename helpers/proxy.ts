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
    return saveProxied(hre, name, existingProxy, implementation, current);
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
  return saveProxied(hre, name, proxy, implementation, implementation.address);
}

async function saveProxied(
  hre: HardhatRuntimeEnvironment,
  name: string,
  proxy: Deployment,
  implementation: Deployment,
  activeImplementation: string,
): Promise<Deployment> {
  const deployment: Deployment = {
    ...proxy,
    abi: implementation.abi,
    implementation: activeImplementation,
    devdoc: implementation.devdoc,
    userdoc: implementation.userdoc,
  };
  await hre.deployments.save(name, deployment);
  return deployment;
}

// ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
const IMPLEMENTATION_SLOT = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";

export async function readImplementation(hre: HardhatRuntimeEnvironment, proxy: string): Promise<string> {
  const raw = await hre.ethers.provider.getStorage(proxy, IMPLEMENTATION_SLOT);
  return hre.ethers.getAddress(`0x${raw.slice(-40)}`);
}
