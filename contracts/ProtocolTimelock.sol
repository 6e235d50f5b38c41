// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title ProtocolTimelock
/// @notice The PRSM treasury and the admin of every protocol contract. Upgrades, parameter changes, role grants and
/// treasury spends are scheduled here and executed after `getMinDelay()`. Only the governor proposes once
/// deployment finishes; anyone may execute a ready operation.
/// @dev Plain (non-upgradeable) OpenZeppelin TimelockController: it holds the treasury, so it is the one contract
/// whose code never changes. Should it ever need replacing, governance moves the assets and roles to a new one.
contract ProtocolTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
