// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GovernorUpgradeable} from "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IGovernorParticipants} from "../interfaces/IGovernorParticipants.sol";

/// @title GovernorParticipantsUpgradeable
/// @notice See {IGovernorParticipants}. Lives inside the governor rather than in a separate contract so that a vote
/// costs one storage read for the registration check instead of an external call.
abstract contract GovernorParticipantsUpgradeable is Initializable, GovernorUpgradeable, IGovernorParticipants {
    using Checkpoints for Checkpoints.Trace208;

    /// @dev `since` is the timestamp the registration takes effect (0 = never registered); `until` is 0 while
    /// registered, else the timestamp registration ended; `registrar` registered it. All three fit one slot. The
    /// registrar was appended to the original two-field struct (a mapping value, so existing entries read it as 0).
    struct Participant {
        uint48 since;
        uint48 until;
        address registrar;
    }

    /// @custom:storage-location erc7201:prsm.storage.GovernorParticipants
    struct GovernorParticipantsStorage {
        mapping(address account => Participant) participants;
        mapping(address account => bool) attestors;
        uint256 count;
        // ---- appended in the registry hardening (issue 15) ----
        /// @dev Earlier registration periods of re-registered accounts: value 1 from a period's start, 0 from its
        /// end. Only consulted for timepoints before the current period.
        mapping(address account => Checkpoints.Trace208) pastPeriods;
        /// @dev Attestor rate limit (a leaky bucket): each change moves this clock ATTESTOR_PERIOD /
        /// ATTESTOR_CHANGES_PER_PERIOD ahead (from now at the earliest); it may never run ATTESTOR_PERIOD ahead.
        mapping(address attestor => uint48) attestorBusyUntil;
        /// @dev Creation timestamp of each proposal: registration is checked one second before it.
        mapping(uint256 proposalId => uint48) proposalCreated;
    }

    /// @dev See {IGovernorParticipants}: an attestor's registration takes effect after 14 days, and an attestor
    /// makes at most 50 registry changes per 7 days (in bursts of up to 50, then one per 7 days / 50).
    uint48 internal constant REGISTRATION_DELAY = 14 days;
    uint48 internal constant ATTESTOR_PERIOD = 7 days;
    uint48 internal constant ATTESTOR_CHANGES_PER_PERIOD = 50;

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.GovernorParticipants")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x6383f7251c39dbfa341bf22b2e377c7e4d16c87ecae6f19866fc0317983d1300;

    function _getParticipantsStorage() private pure returns (GovernorParticipantsStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    /// @dev Registers the bootstrap participants, effective at once; without them nobody could vote to register
    /// anybody.
    function __GovernorParticipants_init(address[] memory initialParticipants) internal onlyInitializing {
        for (uint256 i = 0; i < initialParticipants.length; ++i) {
            _register(initialParticipants[i], clock());
        }
    }

    /// @dev Authorises a registry change: an attestor (returns true, after using one change of its quota), or
    /// governance through {GovernorUpgradeable-onlyGovernance} (returns false).
    function _checkRegistrar() private returns (bool attestor) {
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        address caller = _msgSender();
        if (!$.attestors[caller]) {
            if (caller != _executor()) revert GovernorUnauthorizedRegistrar(caller);
            _checkGovernance();
            return false;
        }
        uint48 now_ = clock();
        uint48 busyUntil = $.attestorBusyUntil[caller];
        busyUntil = (busyUntil > now_ ? busyUntil : now_) + ATTESTOR_PERIOD / ATTESTOR_CHANGES_PER_PERIOD;
        if (busyUntil > now_ + ATTESTOR_PERIOD) revert GovernorAttestorQuotaExceeded(caller, busyUntil - ATTESTOR_PERIOD);
        $.attestorBusyUntil[caller] = busyUntil;
        return true;
    }

    /// @inheritdoc IGovernorParticipants
    function registerParticipant(address account) external {
        uint48 since = clock();
        if (_checkRegistrar()) since += REGISTRATION_DELAY;
        _register(account, since);
    }

    /// @inheritdoc IGovernorParticipants
    function unregisterParticipant(address account) external {
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        Participant storage participant = $.participants[account];
        if (participant.since == 0 || participant.until != 0) revert GovernorParticipantNotRegistered(account);
        // An attestor withdraws only its own registrations; governance may remove anyone.
        if (_checkRegistrar() && participant.registrar != _msgSender()) {
            revert GovernorUnauthorizedRegistrar(_msgSender());
        }

        // Prospective only: proposals created up to now keep this account's vote (see {isParticipantAt}). A
        // registration that had not taken effect yet ends empty (until < since), as if it never happened.
        uint48 until = clock();
        participant.until = until;
        // Cannot underflow: this account was counted when it was registered.
        unchecked {
            --$.count;
        }
        emit ParticipantUnregistered(account, _msgSender(), until);
    }

    /// @inheritdoc IGovernorParticipants
    function setAttestor(address attestor, bool allowed) external onlyGovernance {
        if (attestor == address(0)) revert GovernorInvalidParticipant(attestor);
        _getParticipantsStorage().attestors[attestor] = allowed;
        emit AttestorChanged(attestor, allowed);
    }

    /// @inheritdoc IGovernorParticipants
    function isAttestor(address account) external view returns (bool) {
        return _getParticipantsStorage().attestors[account];
    }

    /// @inheritdoc IGovernorParticipants
    function isParticipant(address account) external view returns (bool) {
        Participant memory participant = _getParticipantsStorage().participants[account];
        return participant.since != 0 && participant.since <= clock() && participant.until == 0;
    }

    /// @inheritdoc IGovernorParticipants
    function isParticipantAt(address account, uint256 timepoint) public view returns (bool) {
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        Participant memory period = $.participants[account];
        if (period.since == 0) return false;
        // Before the current period: only a re-registered account has earlier ones.
        if (timepoint < period.since) return $.pastPeriods[account].upperLookupRecent(SafeCast.toUint48(timepoint)) == 1;
        return period.until == 0 || timepoint < period.until;
    }

    /// @inheritdoc IGovernorParticipants
    function proposalRegistrationTimepoint(uint256 proposalId) public view returns (uint256) {
        uint256 created = _getParticipantsStorage().proposalCreated[proposalId];
        // Proposals made before this rule existed kept the snapshot rule.
        return created == 0 ? proposalSnapshot(proposalId) : created - 1;
    }

    /// @inheritdoc IGovernorParticipants
    function participantCount() external view returns (uint256) {
        return _getParticipantsStorage().count;
    }

    /// @dev Records the creation time, at which the proposal's voters are fixed.
    function _propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        address proposer
    ) internal virtual override returns (uint256 proposalId) {
        proposalId = super._propose(targets, values, calldatas, description, proposer);
        _getParticipantsStorage().proposalCreated[proposalId] = clock();
    }

    function _register(address account, uint48 since) private {
        if (account == address(0)) revert GovernorInvalidParticipant(account);
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        Participant storage participant = $.participants[account];
        if (participant.since != 0) {
            if (participant.until == 0) revert GovernorParticipantAlreadyRegistered(account);
            // Keep the earlier period, so that re-registering never takes a vote away on an older proposal.
            if (participant.since < participant.until) {
                Checkpoints.Trace208 storage past = $.pastPeriods[account];
                past.push(participant.since, 1);
                past.push(participant.until, 0);
            }
        }
        participant.since = since;
        participant.until = 0;
        participant.registrar = _msgSender();
        ++$.count;
        emit ParticipantRegistered(account, _msgSender(), since);
    }
}
