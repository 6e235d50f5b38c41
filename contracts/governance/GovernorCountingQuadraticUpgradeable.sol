// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GovernorUpgradeable} from "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IGovernorCountingQuadratic} from "../interfaces/IGovernorCountingQuadratic.sol";
import {GovernorParticipantsUpgradeable} from "./GovernorParticipantsUpgradeable.sol";

/// @title GovernorCountingQuadraticUpgradeable
/// @notice See {IGovernorCountingQuadratic}. Replaces OpenZeppelin's GovernorCountingSimple: same Bravo support
/// values and tallies, but each voter counts `Math.sqrt(votes)` and only registered participants may vote. The
/// quorum is a governance-set number of quadratic units, checkpointed so a change never affects a running proposal.
abstract contract GovernorCountingQuadraticUpgradeable is
    Initializable,
    GovernorUpgradeable,
    GovernorParticipantsUpgradeable,
    IGovernorCountingQuadratic
{
    using Checkpoints for Checkpoints.Trace208;

    enum VoteType {
        Against,
        For,
        Abstain
    }

    struct ProposalVote {
        uint256 againstVotes;
        uint256 forVotes;
        uint256 abstainVotes;
        mapping(address voter => bool) hasVoted;
    }

    /// @custom:storage-location erc7201:prsm.storage.GovernorCountingQuadratic
    struct GovernorCountingQuadraticStorage {
        mapping(uint256 proposalId => ProposalVote) proposalVotes;
        Checkpoints.Trace208 quorumHistory;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.GovernorCountingQuadratic")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0xbc64191cf9a9639e0fb48efdbe8897a621f7932ace8401cfebf8d2dc24aa6e00;

    function _getCountingStorage() private pure returns (GovernorCountingQuadraticStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    function __GovernorCountingQuadratic_init(uint256 initialQuorum) internal onlyInitializing {
        _setQuorum(initialQuorum);
    }

    /// @notice IGovernor counting description.
    /// @dev `weight=sqrt` and `voters=registered` are PRSM's own keys: weight is the square root of delegated
    /// votes, and only registered participants may vote.
    // solhint-disable-next-line func-name-mixedcase
    function COUNTING_MODE() public pure virtual override returns (string memory) {
        return "support=bravo&quorum=for,abstain&weight=sqrt&voters=registered";
    }

    /// @notice Whether `account` has voted on `proposalId`.
    function hasVoted(uint256 proposalId, address account) public view virtual override returns (bool) {
        return _getCountingStorage().proposalVotes[proposalId].hasVoted[account];
    }

    /// @inheritdoc IGovernorCountingQuadratic
    function proposalVotes(uint256 proposalId)
        public
        view
        virtual
        returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes)
    {
        ProposalVote storage tally = _getCountingStorage().proposalVotes[proposalId];
        return (tally.againstVotes, tally.forVotes, tally.abstainVotes);
    }

    /// @inheritdoc IGovernorCountingQuadratic
    function quadraticWeight(uint256 votes) public pure returns (uint256) {
        return Math.sqrt(votes);
    }

    /// @inheritdoc IGovernorCountingQuadratic
    function getQuadraticVotes(address account, uint256 timepoint) external view returns (uint256) {
        if (!isParticipantAt(account, timepoint)) return 0;
        return quadraticWeight(getVotes(account, timepoint));
    }

    /// @inheritdoc GovernorUpgradeable
    function quorum(uint256 timepoint) public view virtual override returns (uint256) {
        return _getCountingStorage().quorumHistory.upperLookupRecent(SafeCast.toUint48(timepoint));
    }

    /// @inheritdoc IGovernorCountingQuadratic
    function setQuorum(uint256 newQuorum) external onlyGovernance {
        _setQuorum(newQuorum);
    }

    function _setQuorum(uint256 newQuorum) internal {
        Checkpoints.Trace208 storage history = _getCountingStorage().quorumHistory;
        uint256 oldQuorum = history.latest();
        history.push(clock(), SafeCast.toUint208(newQuorum));
        emit QuorumUpdated(oldQuorum, newQuorum);
    }

    /// @inheritdoc GovernorUpgradeable
    function _quorumReached(uint256 proposalId) internal view virtual override returns (bool) {
        ProposalVote storage tally = _getCountingStorage().proposalVotes[proposalId];
        return quorum(proposalSnapshot(proposalId)) <= tally.forVotes + tally.abstainVotes;
    }

    /// @inheritdoc GovernorUpgradeable
    function _voteSucceeded(uint256 proposalId) internal view virtual override returns (bool) {
        ProposalVote storage tally = _getCountingStorage().proposalVotes[proposalId];
        return tally.forVotes > tally.againstVotes;
    }

    function _propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        address proposer
    ) internal virtual override(GovernorUpgradeable, GovernorParticipantsUpgradeable) returns (uint256) {
        return super._propose(targets, values, calldatas, description, proposer);
    }

    /// @dev `totalWeight` is the voter's delegated FTNS at the snapshot; what is counted (and reported in
    /// `VoteCast.weight`) is its square root. The voter must have been registered when the proposal was created
    /// (see {IGovernorParticipants-proposalRegistrationTimepoint}).
    function _countVote(uint256 proposalId, address account, uint8 support, uint256 totalWeight, bytes memory)
        internal
        virtual
        override
        returns (uint256)
    {
        // Voters are fixed at the proposal's creation (the weight is still read at the snapshot).
        uint256 timepoint = proposalRegistrationTimepoint(proposalId);
        if (!isParticipantAt(account, timepoint)) revert GovernorUnregisteredVoter(account, timepoint);

        ProposalVote storage tally = _getCountingStorage().proposalVotes[proposalId];
        if (tally.hasVoted[account]) revert GovernorAlreadyCastVote(account);
        tally.hasVoted[account] = true;

        uint256 weight = quadraticWeight(totalWeight);
        if (support == uint8(VoteType.Against)) {
            tally.againstVotes += weight;
        } else if (support == uint8(VoteType.For)) {
            tally.forVotes += weight;
        } else if (support == uint8(VoteType.Abstain)) {
            tally.abstainVotes += weight;
        } else {
            revert GovernorInvalidVoteType();
        }
        return weight;
    }
}
