// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IModelMarketplace} from "./interfaces/IModelMarketplace.sol";
import {IUsageAttestationVerifier} from "./interfaces/IUsageAttestationVerifier.sol";
import {MarketplaceBase} from "./marketplace/MarketplaceBase.sol";
import {MarketplaceDisputes} from "./marketplace/MarketplaceDisputes.sol";
import {MarketplaceEscrows} from "./marketplace/MarketplaceEscrows.sol";
import {MarketplaceListings} from "./marketplace/MarketplaceListings.sol";
import {MarketplaceSessionKeys} from "./marketplace/MarketplaceSessionKeys.sol";

/// @title ModelMarketplace
/// @notice See {IModelMarketplace}. Joins the listings, escrows and disputes modules behind one UUPS proxy and holds
/// what governance sets: parameters, the terms versions new escrows get, and upgrades. Batched settlement
/// ({IMarketplaceBatches}) and session keys ({IMarketplaceSessionKeys}) do not fit the code-size limit beside them:
/// each lives in its own contract, which the fallback delegates to in this storage. Functions follow one order:
/// checks, state changes, events, external calls.
/// @custom:security-contact security@prsm.example
contract ModelMarketplace is MarketplaceListings, MarketplaceSessionKeys, MarketplaceEscrows, MarketplaceDisputes {
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");

    /// @inheritdoc IModelMarketplace
    uint16 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    /// @notice Longest settlement grace, dispute window, resolution period and unbonding delay governance may set.
    uint256 public constant MAX_PERIOD = 365 days;
    /// @notice Longest escrow governance may allow.
    uint256 public constant MAX_ESCROW_DURATION = 5 * 365 days;

    struct InitParams {
        address admin;
        address treasury;
        uint16 protocolFeeBps;
        uint96 minProviderBond;
        uint72 minEscrowDeposit;
        uint32 maxEscrowDuration;
        uint48 disputeWindow;
        uint48 unbondingDelay;
        uint48 settlementGrace;
        uint80 disputeBond;
        uint48 disputeResolutionPeriod;
        uint16 disputeSlashBps;
        address attestationVerifier;
        bytes32[] categories;
    }

    /// @notice The batch module (MarketplaceBatchModule). Immutable like the token: a new module is a new
    /// implementation, so it changes only by a governance upgrade.
    /// @custom:oz-upgrades-unsafe-allow state-variable-immutable
    address private immutable BATCH_MODULE;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor(address token_, address batchModule_) MarketplaceBase(token_) MarketplaceSessionKeys(token_) {
        if (batchModule_.code.length == 0) revert MarketplaceZeroAddress("batchModule");
        BATCH_MODULE = batchModule_;
        _disableInitializers();
    }

    /// @notice Every selector this contract does not define runs a module's code in this storage: the session-key
    /// functions the session-key module's ({MarketplaceSessionKeys}), all others the batch module's (the modules hold
    /// no state and no role, and have no selector in common with this contract or each other).
    /// @custom:oz-upgrades-unsafe-allow delegatecall
    fallback() external {
        address module = _sessionKeyModuleFor(msg.sig);
        if (module == address(0)) module = BATCH_MODULE;
        // From the free memory pointer on, so the block is memory-safe: assembly that is not makes the IR pipeline
        // give up optimisations across the whole contract (about 2.3 KB of code here).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), module, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) { revert(ptr, returndatasize()) }
            return(ptr, returndatasize())
        }
    }

    function initialize(InitParams calldata p) external initializer {
        if (p.admin == address(0)) revert MarketplaceZeroAddress("admin");
        __AccessControl_init();
        __EIP712_init(_EIP712Name(), _EIP712Version());
        __ReentrancyGuardTransient_init();
        __UUPSUpgradeable_init();

        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);
        _grantRole(UPGRADER_ROLE, p.admin);
        _grantRole(ARBITER_ROLE, p.admin);
        _setTreasury(p.treasury);
        _setMinProviderBond(p.minProviderBond);
        _setMinEscrowDeposit(p.minEscrowDeposit);
        _setMaxEscrowDuration(p.maxEscrowDuration);
        _setUnbondingDelay(p.unbondingDelay);
        _publishTerms(
            Terms({
                protocolFeeBps: p.protocolFeeBps,
                settlementGrace: p.settlementGrace,
                disputeWindow: p.disputeWindow,
                disputeResolutionPeriod: p.disputeResolutionPeriod,
                disputeSlashBps: p.disputeSlashBps,
                disputeBond: p.disputeBond
            })
        );
        _getStorage().verifier = IUsageAttestationVerifier(p.attestationVerifier);
        emit AttestationVerifierUpdated(address(0), p.attestationVerifier);
        for (uint256 i = 0; i < p.categories.length; ++i) {
            _addCategory(p.categories[i]);
        }
    }

    // ================================================================ governance

    /// @inheritdoc IModelMarketplace
    function setProtocolFee(uint16 bps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Terms memory terms = _currentTerms();
        emit ProtocolFeeUpdated(terms.protocolFeeBps, bps);
        terms.protocolFeeBps = bps;
        _publishTerms(terms);
    }

    /// @inheritdoc IModelMarketplace
    function setSettlementGrace(uint48 grace) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Terms memory terms = _currentTerms();
        emit SettlementGraceUpdated(terms.settlementGrace, grace);
        terms.settlementGrace = grace;
        _publishTerms(terms);
    }

    /// @inheritdoc IModelMarketplace
    function setDisputeWindow(uint48 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Terms memory terms = _currentTerms();
        emit DisputeWindowUpdated(terms.disputeWindow, window);
        terms.disputeWindow = window;
        _publishTerms(terms);
    }

    /// @inheritdoc IModelMarketplace
    function setDisputeTerms(uint80 bond, uint48 resolutionPeriod, uint16 slashBps)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Terms memory terms = _currentTerms();
        terms.disputeBond = bond;
        terms.disputeResolutionPeriod = resolutionPeriod;
        terms.disputeSlashBps = slashBps;
        _publishTerms(terms);
    }

    /// @inheritdoc IModelMarketplace
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(newTreasury);
    }

    /// @inheritdoc IModelMarketplace
    function setMinProviderBond(uint96 bond) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinProviderBond(bond);
    }

    /// @inheritdoc IModelMarketplace
    function setMinEscrowDeposit(uint72 deposit) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinEscrowDeposit(deposit);
    }

    /// @inheritdoc IModelMarketplace
    function setMaxEscrowDuration(uint32 duration) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMaxEscrowDuration(duration);
    }

    /// @inheritdoc IModelMarketplace
    function setUnbondingDelay(uint48 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingDelay(delay);
    }

    /// @inheritdoc IModelMarketplace
    function setAttestationVerifier(address verifier) external onlyRole(DEFAULT_ADMIN_ROLE) {
        MarketplaceStorage storage $ = _getStorage();
        emit AttestationVerifierUpdated(address($.verifier), verifier);
        $.verifier = IUsageAttestationVerifier(verifier);
    }

    /// @inheritdoc IModelMarketplace
    function addCategory(bytes32 name) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint8) {
        return _addCategory(name);
    }

    // ================================================================ views

    function token() external view returns (address) {
        return address(TOKEN);
    }

    function batchModule() external view returns (address) {
        return BATCH_MODULE;
    }

    function treasury() external view returns (address) {
        return _getStorage().treasury;
    }

    function protocolFeeBps() external view returns (uint16) {
        return _currentTerms().protocolFeeBps;
    }

    function settlementGrace() external view returns (uint48) {
        return _currentTerms().settlementGrace;
    }

    function disputeWindow() external view returns (uint48) {
        return _currentTerms().disputeWindow;
    }

    function currentTermsId() external view returns (uint16) {
        return _getStorage().currentTerms;
    }

    function getTerms(uint16 termsId) external view returns (Terms memory) {
        return _getStorage().terms[termsId];
    }

    function minProviderBond() external view returns (uint256) {
        return _getStorage().minProviderBond;
    }

    function minEscrowDeposit() external view returns (uint256) {
        return _getStorage().minEscrowDeposit;
    }

    function maxEscrowDuration() external view returns (uint32) {
        return _getStorage().maxEscrowDuration;
    }

    function unbondingDelay() external view returns (uint48) {
        return _getStorage().unbondingDelay;
    }

    function attestationVerifier() external view returns (address) {
        return address(_getStorage().verifier);
    }

    function categoryCount() external view returns (uint8) {
        return _getStorage().categoryCount;
    }

    function categoryName(uint8 category) external view returns (bytes32) {
        return _getStorage().categoryNames[category];
    }

    function getListing(uint256 listingId) external view returns (Listing memory) {
        return _getStorage().listings[listingId];
    }

    function getEscrow(uint256 escrowId) external view returns (Escrow memory) {
        return _getStorage().escrows[escrowId];
    }

    function getCharge(uint256 chargeId) external view returns (Charge memory) {
        return _getStorage().charges[chargeId];
    }

    function payoutOf(address account) external view returns (uint256) {
        return _getStorage().payouts[account];
    }

    function listingCount() external view returns (uint256) {
        return _getStorage().listingCount;
    }

    function escrowCount() external view returns (uint256) {
        return _getStorage().escrowCount;
    }

    function chargeCount() external view returns (uint256) {
        return _getStorage().chargeCount;
    }

    // ================================================================ internals

    function _currentTerms() private view returns (Terms memory) {
        MarketplaceStorage storage $ = _getStorage();
        return $.terms[$.currentTerms];
    }

    /// @dev Terms versions are never modified once published: escrows refer to them by id for their whole life.
    /// Version 0 is never used (the first published one is 1), so a zero termsId marks an unset escrow.
    function _publishTerms(Terms memory terms) private {
        if (terms.protocolFeeBps > MAX_PROTOCOL_FEE_BPS) revert FeeTooHigh(terms.protocolFeeBps, MAX_PROTOCOL_FEE_BPS);
        if (terms.disputeSlashBps > BPS) revert InvalidSlash(terms.disputeSlashBps, BPS);
        _checkPeriod("settlementGrace", terms.settlementGrace, MAX_PERIOD);
        _checkPeriod("disputeWindow", terms.disputeWindow, MAX_PERIOD);
        _checkPeriod("disputeResolutionPeriod", terms.disputeResolutionPeriod, MAX_PERIOD);
        if (terms.disputeResolutionPeriod == 0) revert InvalidPeriod("disputeResolutionPeriod", 0, MAX_PERIOD);
        MarketplaceStorage storage $ = _getStorage();
        uint16 termsId = $.currentTerms + 1; // reverts after 65,535 versions
        $.terms[termsId] = terms;
        $.currentTerms = termsId;
        emit TermsUpdated(
            termsId,
            terms.protocolFeeBps,
            terms.settlementGrace,
            terms.disputeWindow,
            terms.disputeResolutionPeriod,
            terms.disputeSlashBps,
            terms.disputeBond
        );
    }

    function _checkPeriod(string memory parameter, uint256 value, uint256 maximum) private pure {
        if (value > maximum) revert InvalidPeriod(parameter, value, maximum);
    }

    function _setTreasury(address newTreasury) private {
        if (newTreasury == address(0)) revert MarketplaceZeroAddress("treasury");
        MarketplaceStorage storage $ = _getStorage();
        emit TreasuryUpdated($.treasury, newTreasury);
        $.treasury = newTreasury;
    }

    function _setMinProviderBond(uint96 bond) private {
        MarketplaceStorage storage $ = _getStorage();
        emit MinProviderBondUpdated($.minProviderBond, bond);
        $.minProviderBond = bond;
    }

    function _setMinEscrowDeposit(uint72 deposit) private {
        MarketplaceStorage storage $ = _getStorage();
        emit MinEscrowDepositUpdated($.minEscrowDeposit, deposit);
        $.minEscrowDeposit = deposit;
    }

    function _setMaxEscrowDuration(uint32 duration) private {
        if (duration == 0 || duration > MAX_ESCROW_DURATION) {
            revert InvalidPeriod("maxEscrowDuration", duration, MAX_ESCROW_DURATION);
        }
        MarketplaceStorage storage $ = _getStorage();
        emit MaxEscrowDurationUpdated($.maxEscrowDuration, duration);
        $.maxEscrowDuration = duration;
    }

    function _setUnbondingDelay(uint48 delay) private {
        _checkPeriod("unbondingDelay", delay, MAX_PERIOD);
        MarketplaceStorage storage $ = _getStorage();
        emit UnbondingDelayUpdated($.unbondingDelay, delay);
        $.unbondingDelay = delay;
    }

    function _addCategory(bytes32 name) private returns (uint8 category) {
        MarketplaceStorage storage $ = _getStorage();
        category = $.categoryCount;
        $.categoryNames[category] = name;
        $.categoryCount = category + 1; // reverts past 255 categories
        emit CategoryAdded(category, name);
    }

    /// @dev Constant EIP-712 name and version: saves two storage reads per receipt (see FTNSToken).
    function _EIP712Name() internal pure override returns (string memory) {
        return "PRSM Marketplace";
    }

    function _EIP712Version() internal pure override returns (string memory) {
        return "1";
    }

    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}
}
