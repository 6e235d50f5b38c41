// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IMarketplaceSessionKeys} from "../interfaces/IMarketplaceSessionKeys.sol";
import {IModelMarketplace} from "../interfaces/IModelMarketplace.sol";
import {EscrowOpening} from "./MarketplaceEscrows.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";
import {MarketplaceState} from "./MarketplaceStorage.sol";

/// @title MarketplaceSessionKeys
/// @notice The marketplace's side of session keys ({IMarketplaceSessionKeys}): the escrows module accepts receipts
/// signed by any key ever authorized for the escrow (MarketplaceEscrows.chargeWithReceipt reads the same storage), and
/// this part routes the session-key functions to {MarketplaceSessionKeyModule}, which the implementation deploys in
/// its constructor and delegates to in the proxy's storage. The functions do not fit the 24 KiB code-size limit
/// beside the other modules, like batched settlement; unlike it, the module needs no constructor argument (the
/// implementation creates it with its own token), so deploying the marketplace is unchanged.
/// @dev Bound of a key, as chargeWithReceipt enforces it: a leaked key (revoked or not) can sign receipts charging at
/// most the escrow's remaining spend cap, to that escrow's listing's provider; it cannot close the escrow, move the
/// deposit or touch any other escrow.
abstract contract MarketplaceSessionKeys is MarketplaceBase {
    /// @notice The session-key module. Immutable like the token and the batch module: a new module is a new
    /// implementation.
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    address private immutable SESSION_KEY_MODULE;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_) {
        SESSION_KEY_MODULE = address(new MarketplaceSessionKeyModule(token_));
    }

    /// @dev The module to run `selector` in, or address(0) when it is not a session-key function.
    function _sessionKeyModuleFor(bytes4 selector) internal view returns (address) {
        if (
            selector == IMarketplaceSessionKeys.openEscrowWithSessionKey.selector
                || selector == IMarketplaceSessionKeys.authorizeSessionKey.selector
                || selector == IMarketplaceSessionKeys.revokeSessionKey.selector
                || selector == IMarketplaceSessionKeys.sessionKey.selector
        ) return SESSION_KEY_MODULE;
        return address(0);
    }
}

/// @title MarketplaceSessionKeyModule
/// @notice Session keys, see {IMarketplaceSessionKeys}: open an escrow with a key, authorize, revoke, read. Runs only
/// as the marketplace implementation's delegate, in the marketplace proxy's storage (called directly it sees its own
/// empty storage: no escrow, no listing, so it opens and authorizes nothing). Holds no state and no role.
/// @custom:security-contact security@prsm.example
contract MarketplaceSessionKeyModule is IMarketplaceSessionKeys, MarketplaceState {
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    IERC20 private immutable TOKEN;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_) {
        TOKEN = IERC20(token_);
    }

    /// @inheritdoc IMarketplaceSessionKeys
    /// @dev The key is recorded under the id the escrow is about to get, before the escrow itself, so that the only
    /// outgoing call (the deposit's transfer, at the end of EscrowOpening.open) still comes last; the escrow takes
    /// exactly that id in the same transaction.
    function openEscrowWithSessionKey(
        uint256 listingId,
        uint96 deposit,
        uint96 spendCap,
        uint48 expiresAt,
        uint96 maxPricePerUnit,
        address key,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256) {
        // As openEscrowWithPermit: a failed permit (already used, e.g. front-run from the mempool) is fine if the
        // allowance is there; otherwise the transfer reverts with the token's allowance error.
        try IERC20Permit(address(TOKEN)).permit(msg.sender, address(this), deposit, permitDeadline, v, r, s) {}
            catch {}
        MarketplaceStorage storage $ = _getStorage();
        _authorize($, uint256($.escrowCount) + 1, key, msg.sender);
        return EscrowOpening.open($, TOKEN, listingId, deposit, spendCap, expiresAt, maxPricePerUnit);
    }

    /// @inheritdoc IMarketplaceSessionKeys
    function authorizeSessionKey(uint256 escrowId, address key) external {
        MarketplaceStorage storage $ = _getStorage();
        IModelMarketplace.Escrow storage escrow = $.escrows[escrowId];
        if (escrow.status != IModelMarketplace.EscrowStatus.Open) {
            if (escrow.status == IModelMarketplace.EscrowStatus.None) revert IModelMarketplace.EscrowNotFound(escrowId);
            revert IModelMarketplace.EscrowNotOpen(escrowId);
        }
        if (escrow.renter != msg.sender) revert IModelMarketplace.NotEscrowRenter(escrowId, msg.sender);
        _authorize($, escrowId, key, msg.sender);
    }

    /// @inheritdoc IMarketplaceSessionKeys
    /// @dev Also on a closed escrow (harmless: nothing can be charged to it any more).
    function revokeSessionKey(uint256 escrowId, address key) external {
        MarketplaceStorage storage $ = _getStorage();
        if ($.escrows[escrowId].renter != msg.sender) revert IModelMarketplace.NotEscrowRenter(escrowId, msg.sender);
        SessionKeyState storage state = $.sessionKeys[escrowId][key];
        if (!state.authorized || state.revokedAt != 0) revert SessionKeyNotActive(escrowId, key);
        // Cannot truncate before the year 8.9 million.
        uint48 at = uint48(block.timestamp);
        state.revokedAt = at;
        emit SessionKeyRevoked(escrowId, key, at);
    }

    /// @inheritdoc IMarketplaceSessionKeys
    function sessionKey(uint256 escrowId, address key) external view returns (bool authorized, uint48 revokedAt) {
        SessionKeyState storage state = _getStorage().sessionKeys[escrowId][key];
        return (state.authorized, state.revokedAt);
    }

    /// @dev Authorizes `key` for `escrowId`, whose renter is `renter` (checked by the caller, or being opened by it).
    function _authorize(MarketplaceStorage storage $, uint256 escrowId, address key, address renter) private {
        if (key == address(0) || key == renter) revert InvalidSessionKey(key);
        SessionKeyState storage state = $.sessionKeys[escrowId][key];
        if (state.authorized) revert SessionKeyAlreadyAuthorized(escrowId, key);
        state.authorized = true;
        emit SessionKeyAuthorized(escrowId, key);
    }
}
