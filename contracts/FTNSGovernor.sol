// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GovernorUpgradeable} from "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";
import {GovernorPreventLateQuorumUpgradeable} from
    "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorPreventLateQuorumUpgradeable.sol";
import {GovernorSettingsUpgradeable} from
    "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorSettingsUpgradeable.sol";
import {GovernorTimelockControlUpgradeable} from
    "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorTimelockControlUpgradeable.sol";
import {GovernorVotesUpgradeable} from
    "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorVotesUpgradeable.sol";
import {TimelockControllerUpgradeable} from
    "@openzeppelin/contracts-upgradeable/governance/TimelockControllerUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {IERC6372} from "@openzeppelin/contracts/interfaces/IERC6372.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {GovernorCountingQuadraticUpgradeable} from "./governance/GovernorCountingQuadraticUpgradeable.sol";
import {GovernorParticipantsUpgradeable} from "./governance/GovernorParticipantsUpgradeable.sol";

/// @title FTNSGovernor
/// @notice PRSM's governor: an OpenZeppelin Governor (so any IGovernor client can propose, vote, queue and execute)
/// with quadratic counting over registered participants, settings changeable only by proposal, late-quorum
/// protection, and execution through the protocol timelock. The timelock's canceller role also belongs to a safety
/// council that can cancel a queued proposal but has no power to propose or execute, and cannot cancel a proposal
/// that only changes the council (the timelock holds it for a longer delay instead; see ProtocolTimelock).
/// @dev Voting power (`getVotes`) and the proposal threshold are in FTNS (linear); tallies and the quorum are in
/// quadratic units (see {IGovernorCountingQuadratic}). Upgrades are authorised only by governance itself.
contract FTNSGovernor is
    Initializable,
    GovernorUpgradeable,
    GovernorSettingsUpgradeable,
    GovernorParticipantsUpgradeable,
    GovernorCountingQuadraticUpgradeable,
    GovernorVotesUpgradeable,
    GovernorTimelockControlUpgradeable,
    GovernorPreventLateQuorumUpgradeable,
    UUPSUpgradeable
{
    struct InitParams {
        IVotes token;
        address timelock;
        uint48 votingDelay;
        uint32 votingPeriod;
        uint256 proposalThreshold;
        uint256 quorum;
        uint48 lateQuorumVoteExtension;
        address[] participants;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @dev Parents are initialised out of linearisation order on purpose (the token first, see below).
    /// @custom:oz-upgrades-unsafe-allow incorrect-initializer-order
    function initialize(InitParams calldata p) external initializer {
        __Governor_init("PRSM Governor");
        // The token first: the clock (used to timestamp registrations and the quorum) is the token's.
        __GovernorVotes_init(p.token);
        __GovernorSettings_init(p.votingDelay, p.votingPeriod, p.proposalThreshold);
        __GovernorParticipants_init(p.participants);
        __GovernorCountingQuadratic_init(p.quorum);
        __GovernorTimelockControl_init(TimelockControllerUpgradeable(payable(p.timelock)));
        __GovernorPreventLateQuorum_init(p.lateQuorumVoteExtension);
        __UUPSUpgradeable_init();
    }

    function _authorizeUpgrade(address) internal override onlyGovernance {}

    /// @notice ERC-165: IGovernor (via OpenZeppelin), and ERC-6372 so clients can discover the timestamp clock.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC6372).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---- overrides required by Solidity for the combination of extensions ----

    function votingDelay() public view override(GovernorUpgradeable, GovernorSettingsUpgradeable) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(GovernorUpgradeable, GovernorSettingsUpgradeable) returns (uint256) {
        return super.votingPeriod();
    }

    function proposalThreshold()
        public
        view
        override(GovernorUpgradeable, GovernorSettingsUpgradeable)
        returns (uint256)
    {
        return super.proposalThreshold();
    }

    function quorum(uint256 timepoint)
        public
        view
        override(GovernorUpgradeable, GovernorCountingQuadraticUpgradeable)
        returns (uint256)
    {
        return super.quorum(timepoint);
    }

    function state(uint256 proposalId)
        public
        view
        override(GovernorUpgradeable, GovernorTimelockControlUpgradeable)
        returns (ProposalState)
    {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(GovernorUpgradeable, GovernorTimelockControlUpgradeable)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function proposalDeadline(uint256 proposalId)
        public
        view
        override(GovernorUpgradeable, GovernorPreventLateQuorumUpgradeable)
        returns (uint256)
    {
        return super.proposalDeadline(proposalId);
    }

    function _tallyUpdated(uint256 proposalId)
        internal
        override(GovernorUpgradeable, GovernorPreventLateQuorumUpgradeable)
    {
        super._tallyUpdated(proposalId);
    }

    function _propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        address proposer
    ) internal
        override(GovernorUpgradeable, GovernorParticipantsUpgradeable, GovernorCountingQuadraticUpgradeable)
        returns (uint256)
    {
        return super._propose(targets, values, calldatas, description, proposer);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (uint48) {
        super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
        // The ETA is what the timelock really scheduled: it holds a council change longer than its minimum delay
        // (see ProtocolTimelock), and `proposalEta`/`ProposalQueued` must not announce an earlier time. The operation
        // is the one GovernorTimelockControl scheduled (predecessor 0, salt = this address xor the description hash).
        TimelockControllerUpgradeable tl = TimelockControllerUpgradeable(payable(timelock()));
        bytes32 salt = bytes20(address(this)) ^ descriptionHash;
        return SafeCast.toUint48(tl.getTimestamp(tl.hashOperationBatch(targets, values, calldatas, 0, salt)));
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor()
        internal
        view
        override(GovernorUpgradeable, GovernorTimelockControlUpgradeable)
        returns (address)
    {
        return super._executor();
    }

    function _quorumReached(uint256 proposalId)
        internal
        view
        override(GovernorUpgradeable, GovernorCountingQuadraticUpgradeable)
        returns (bool)
    {
        return super._quorumReached(proposalId);
    }

    function _voteSucceeded(uint256 proposalId)
        internal
        view
        override(GovernorUpgradeable, GovernorCountingQuadraticUpgradeable)
        returns (bool)
    {
        return super._voteSucceeded(proposalId);
    }

    function _countVote(uint256 proposalId, address account, uint8 support, uint256 totalWeight, bytes memory params)
        internal
        override(GovernorUpgradeable, GovernorCountingQuadraticUpgradeable)
        returns (uint256)
    {
        return super._countVote(proposalId, account, support, totalWeight, params);
    }
}
