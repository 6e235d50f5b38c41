// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title ProtocolTimelock
/// @notice The PRSM treasury and the admin of every protocol contract. Upgrades, parameter changes, role grants and
/// treasury spends are scheduled here and executed after `getMinDelay()`. Only the governor proposes once
/// deployment finishes; anyone may execute a ready operation.
///
/// The safety council holds CANCELLER_ROLE and may cancel any queued operation, except a **council change**: an
/// operation whose every call is this timelock's own `grantRole(CANCELLER_ROLE, …)` or
/// `revokeRole(CANCELLER_ROLE, …)`. A council change waits {councilChangeDelay} (twice the minimum delay, whatever
/// delay the proposer asked for) and only an account that is also a proposer (the governor; the deployer before the
/// handover) can cancel it, so governance can always replace a council that would veto its own removal. Anything
/// bundled with a council change makes it an ordinary, cancellable operation: put council changes in a proposal
/// of their own.
/// @dev Plain (non-upgradeable) OpenZeppelin TimelockController: it holds the treasury, so it is the one contract
/// whose code never changes. Should it ever need replacing, governance moves the assets and roles to a new one.
contract ProtocolTimelock is TimelockController {
    /// @notice A council change waits this many times the minimum delay.
    uint256 public constant COUNCIL_CHANGE_DELAY_FACTOR = 2;

    mapping(bytes32 id => bool) private _councilChanges;

    /// @notice `caller`, a canceller without the proposer role, tried to cancel the council change `id`.
    error ProtocolTimelockCouncilChange(bytes32 id, address caller);

    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}

    /// @notice The delay of a council change: {COUNCIL_CHANGE_DELAY_FACTOR} times `getMinDelay()`.
    function councilChangeDelay() public view returns (uint256) {
        return COUNCIL_CHANGE_DELAY_FACTOR * getMinDelay();
    }

    /// @notice Whether operation `id` was scheduled as a council change (see the contract description).
    function isCouncilChange(bytes32 id) external view returns (bool) {
        return _councilChanges[id];
    }

    /// @inheritdoc TimelockController
    /// @dev A council change is held for at least {councilChangeDelay}.
    function schedule(
        address target,
        uint256 value,
        bytes calldata data,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        if (_changesCouncil(target, data)) {
            _councilChanges[hashOperation(target, value, data, predecessor, salt)] = true;
            delay = Math.max(delay, councilChangeDelay());
        }
        super.schedule(target, value, data, predecessor, salt, delay);
    }

    /// @inheritdoc TimelockController
    /// @dev A batch is a council change when every call in it is one; it is then held for at least
    /// {councilChangeDelay}.
    function scheduleBatch(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        bool councilChange = targets.length != 0 && targets.length == payloads.length;
        for (uint256 i = 0; councilChange && i < targets.length; ++i) {
            councilChange = _changesCouncil(targets[i], payloads[i]);
        }
        if (councilChange) {
            _councilChanges[hashOperationBatch(targets, values, payloads, predecessor, salt)] = true;
            delay = Math.max(delay, councilChangeDelay());
        }
        super.scheduleBatch(targets, values, payloads, predecessor, salt, delay);
    }

    /// @inheritdoc TimelockController
    /// @dev A council change can be cancelled only by a canceller that is also a proposer.
    function cancel(bytes32 id) public override {
        if (_councilChanges[id] && !hasRole(PROPOSER_ROLE, _msgSender())) {
            revert ProtocolTimelockCouncilChange(id, _msgSender());
        }
        super.cancel(id);
    }

    function _changesCouncil(address target, bytes calldata data) private view returns (bool) {
        if (target != address(this) || data.length != 68) return false;
        bytes4 selector = bytes4(data[:4]);
        return (selector == IAccessControl.grantRole.selector || selector == IAccessControl.revokeRole.selector)
            && bytes32(data[4:36]) == CANCELLER_ROLE;
    }
}
