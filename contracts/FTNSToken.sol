// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {ERC20Upgradeable} from "@openzeppelin/contracts-upgradeable/token/ERC20/ERC20Upgradeable.sol";
import {ERC20BurnableUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20BurnableUpgradeable.sol";
import {ERC20CappedUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20CappedUpgradeable.sol";
import {ERC20PausableUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20PausableUpgradeable.sol";
import {ERC20PermitUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20PermitUpgradeable.sol";
import {ERC20VotesUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20VotesUpgradeable.sol";
import {NoncesUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/NoncesUpgradeable.sol";

import {IFTNSToken} from "./interfaces/IFTNSToken.sol";

/// @title FTNSToken
/// @notice See {IFTNSToken}. All state lives in ERC-7201 namespaces: OpenZeppelin's, and this contract's own
/// `prsm.storage.FTNSToken` (the pause window), so upgrades only have to keep each namespace append-only.
/// @custom:security-contact security@prsm.example
contract FTNSToken is
    IFTNSToken,
    Initializable,
    ERC20Upgradeable,
    ERC20BurnableUpgradeable,
    ERC20CappedUpgradeable,
    ERC20PausableUpgradeable,
    ERC20PermitUpgradeable,
    ERC20VotesUpgradeable,
    AccessControlUpgradeable,
    UUPSUpgradeable
{
    /// @inheritdoc IFTNSToken
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @inheritdoc IFTNSToken
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @inheritdoc IFTNSToken
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");
    /// @inheritdoc IFTNSToken
    uint256 public constant MAX_SUPPLY = 1_000_000_000 ether;
    /// @inheritdoc IFTNSToken
    uint256 public constant INITIAL_SUPPLY = 100_000_000 ether;

    /// @inheritdoc IFTNSToken
    uint48 public constant MAX_PAUSE = 14 days;

    /// @dev The pause window. Paused means `block.timestamp < pausedUntil`, so a pause ends by itself; OpenZeppelin's
    /// `_paused` flag is no longer used (an implementation upgraded from one that set it starts unpaused).
    /// @custom:storage-location erc7201:prsm.storage.FTNSToken
    struct FTNSTokenStorage {
        uint48 pausedAt;
        uint48 pausedUntil;
    }

    // keccak256(abi.encode(uint256(keccak256("prsm.storage.FTNSToken")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x5923d89d778b529fc31658ee1565a75fa0c47173b2b31157febde12250beae00;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the token behind its proxy.
    /// @param treasury Receives the initial 100,000,000 FTNS (the protocol timelock).
    /// @param admin Holds DEFAULT_ADMIN_ROLE and UPGRADER_ROLE (the protocol timelock).
    /// @param guardian May pause (for at most MAX_PAUSE) and unpause.
    function initialize(address treasury, address admin, address guardian) external initializer {
        if (treasury == address(0)) revert FTNSZeroAddress("treasury");
        if (admin == address(0)) revert FTNSZeroAddress("admin");
        if (guardian == address(0)) revert FTNSZeroAddress("guardian");

        // A name under 32 bytes fits one storage slot: the upgradeable EIP-712 domain re-reads it on every permit.
        __ERC20_init("PRSM FTNS", "FTNS");
        __ERC20Burnable_init();
        __ERC20Capped_init(MAX_SUPPLY);
        __ERC20Pausable_init();
        __ERC20Permit_init("PRSM FTNS");
        __ERC20Votes_init();
        __AccessControl_init();
        __UUPSUpgradeable_init();

        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPGRADER_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
        _mint(treasury, INITIAL_SUPPLY);
    }

    /// @inheritdoc IFTNSToken
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc IFTNSToken
    function pause() external onlyRole(GUARDIAN_ROLE) {
        if (paused()) revert EnforcedPause();
        FTNSTokenStorage storage $ = _tokenStorage();
        // After a pause, the guardian waits as long as it lasted (at most MAX_PAUSE) before pausing again.
        uint256 lasted = $.pausedUntil - $.pausedAt;
        uint256 availableAt = $.pausedUntil + (lasted < MAX_PAUSE ? lasted : MAX_PAUSE);
        if (block.timestamp < availableAt) revert FTNSPauseCooldown(availableAt);
        _setPause($, uint48(block.timestamp) + MAX_PAUSE);
    }

    /// @inheritdoc IFTNSToken
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        if (!paused()) revert ExpectedPause();
        _setPause(_tokenStorage(), uint48(block.timestamp));
    }

    /// @inheritdoc IFTNSToken
    function setPausedUntil(uint48 until) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPause(_tokenStorage(), until);
    }

    /// @inheritdoc IFTNSToken
    function pausedUntil() external view returns (uint48) {
        return _tokenStorage().pausedUntil;
    }

    /// @notice Whether balance changes are stopped: true only until the pause window ends, with no call needed.
    function paused() public view override returns (bool) {
        return block.timestamp < _tokenStorage().pausedUntil;
    }

    /// @notice ERC-6372 clock: votes are checkpointed by block timestamp, which is stable across Polygon's
    /// variable block times and matches the governor's timestamp-based voting delay and period.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372 clock description.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @dev The EIP-712 domain name and version as constants: the upgradeable EIP712 would otherwise read both from
    /// storage on every permit and delegation signature (an upgradeable contract cannot cache the domain separator
    /// in immutables). They equal what `initialize` stores, so `eip712Domain()` and signatures agree.
    function _EIP712Name() internal pure override returns (string memory) {
        return "PRSM FTNS";
    }

    function _EIP712Version() internal pure override returns (string memory) {
        return "1";
    }

    function nonces(address owner) public view override(ERC20PermitUpgradeable, NoncesUpgradeable) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20Upgradeable, ERC20CappedUpgradeable, ERC20PausableUpgradeable, ERC20VotesUpgradeable)
    {
        super._update(from, to, value);
    }

    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}

    /// @dev Moves the end of the pause window to `until`: a future time pauses (or keeps paused) until then, a past
    /// one or now ends the pause at once. Emits Paused/Unpaused when the state flips, PauseEndChanged always.
    function _setPause(FTNSTokenStorage storage $, uint48 until) private {
        uint48 now_ = uint48(block.timestamp);
        bool wasPaused = now_ < $.pausedUntil;
        if (until > now_) {
            if (!wasPaused) {
                $.pausedAt = now_;
                emit Paused(_msgSender());
            }
        } else {
            // A pause never ends before it began nor in the past, which keeps the guardian's cooldown exact.
            if (!wasPaused) return;
            until = now_;
            emit Unpaused(_msgSender());
        }
        $.pausedUntil = until;
        emit PauseEndChanged(until);
    }

    function _tokenStorage() private pure returns (FTNSTokenStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }
}
