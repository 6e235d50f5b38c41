// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GovernorUpgradeable} from "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";

import {IGovernorParticipants} from "../interfaces/IGovernorParticipants.sol";

/// @title GovernorParticipantsUpgradeable
/// @notice See {IGovernorParticipants}. Lives inside the governor rather than in a separate contract so that a vote
/// costs one storage read for the registration check instead of an external call.
abstract contract GovernorParticipantsUpgradeable is Initializable, GovernorUpgradeable, IGovernorParticipants {
    /// @dev `since` is the registration timestamp (0 = never registered); `until` is 0 while registered, else the
    /// timestamp registration ended. Both fit one slot.
    struct Participant {
        uint48 since;
        uint48 until;
    }

    /// @custom:storage-location erc7201:prsm.storage.GovernorParticipants
    struct GovernorParticipantsStorage {
        mapping(address account => Participant) participants;
        mapping(address account => bool) attestors;
        uint256 count;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.GovernorParticipants")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x6383f7251c39dbfa341bf22b2e377c7e4d16c87ecae6f19866fc0317983d1300;

    function _getParticipantsStorage() private pure returns (GovernorParticipantsStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    /// @dev Registers the bootstrap participants; without them nobody could vote to register anybody.
    function __GovernorParticipants_init(address[] memory initialParticipants) internal onlyInitializing {
        for (uint256 i = 0; i < initialParticipants.length; ++i) {
            _register(initialParticipants[i]);
        }
    }

    /// @dev An attestor, or governance through {GovernorUpgradeable-onlyGovernance}.
    modifier onlyRegistrar() {
        if (!_getParticipantsStorage().attestors[_msgSender()]) {
            if (_msgSender() != _executor()) revert GovernorUnauthorizedRegistrar(_msgSender());
            _checkGovernance();
        }
        _;
    }

    /// @inheritdoc IGovernorParticipants
    function registerParticipant(address account) external onlyRegistrar {
        _register(account);
    }

    /// @inheritdoc IGovernorParticipants
    function unregisterParticipant(address account) external onlyRegistrar {
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        Participant storage participant = $.participants[account];
        if (participant.since == 0 || participant.until != 0) revert GovernorParticipantNotRegistered(account);

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
        return participant.since != 0 && participant.until == 0;
    }

    /// @inheritdoc IGovernorParticipants
    function isParticipantAt(address account, uint256 timepoint) public view returns (bool) {
        Participant memory participant = _getParticipantsStorage().participants[account];
        return participant.since != 0 && participant.since <= timepoint
            && (participant.until == 0 || timepoint < participant.until);
    }

    /// @inheritdoc IGovernorParticipants
    function participantCount() external view returns (uint256) {
        return _getParticipantsStorage().count;
    }

    function _register(address account) private {
        if (account == address(0)) revert GovernorInvalidParticipant(account);
        GovernorParticipantsStorage storage $ = _getParticipantsStorage();
        Participant storage participant = $.participants[account];
        if (participant.since != 0 && participant.until == 0) revert GovernorParticipantAlreadyRegistered(account);

        uint48 since = clock();
        participant.since = since;
        participant.until = 0;
        ++$.count;
        emit ParticipantRegistered(account, _msgSender(), since);
    }
}
