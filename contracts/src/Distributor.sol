// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PropertyShares} from "./PropertyShares.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @notice A treasury that books money paid back to it (the property treasury); it says so through
/// ERC-165.
interface ITreasuryDeposit {
    function deposit(uint256 amount, bytes32 ref) external;
}

/// @title Distributor
/// @notice Pays distributions to one property's shareholders pro rata to their balances at a record
/// date (a share-token checkpoint taken when the distribution is funded). Holders claim; each
/// entitlement is rounded down, so the rounding dust and anything never claimed stay in the
/// distribution and are returned to the funder by `sweep` after the claim deadline (by a deposit
/// when the funder is a treasury, by a plain transfer otherwise).
///
/// - No distribution is funded while an offering holds unsettled shares (they might be refunded).
/// - The payout of a wallet that was recovered goes to the wallet it was recovered to
///   (`PropertyShares.successorOf`), never to the lost key.
/// - A frozen holder's claim is recorded but not paid: the entitlement is kept out of the sweep and
///   paid by a later claim, once the wallet and its investor are unfrozen, even after the deadline.
contract Distributor is AccessControlDefaultAdminRules, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role that funds distributions (the property treasury).
    bytes32 public constant FUNDER_ROLE = keccak256("FUNDER_ROLE");

    /// @notice The share token whose holders are paid.
    PropertyShares public immutable shares;
    /// @notice The payout token (the settlement stablecoin).
    IERC20 public immutable payoutToken;

    /// @notice One distribution.
    struct Distribution {
        uint256 amount; // funded
        uint256 claimed; // paid out or withheld for frozen holders so far
        uint256 supplyAtRecord; // share total supply at the record date
        address funder; // where unclaimed funds return
        uint32 checkpointId;
        uint64 recordTime;
        uint64 claimDeadline;
        bool swept;
        bytes32 ref;
    }

    /// @notice Where one holder's payout of one distribution stands.
    enum ClaimState {
        Unclaimed,
        Paid,
        Withheld // claimed while frozen: reserved, paid after the unfreeze
    }

    Distribution[] private _distributions;
    mapping(uint256 id => mapping(address holder => ClaimState)) private _claims;

    /// @notice A distribution was funded with a record date of now.
    event DistributionCreated(
        uint256 indexed distributionId,
        uint32 indexed checkpointId,
        uint64 recordTime,
        uint256 amount,
        uint256 supplyAtRecord,
        uint64 claimDeadline,
        bytes32 ref
    );
    /// @notice A payout was paid: `holder` is the wallet at the record date, `payee` the wallet paid
    /// (a different one after a recovery).
    event Claimed(
        uint256 indexed distributionId, address indexed holder, address indexed payee, uint256 amount
    );
    /// @notice A payout was claimed while its payee is frozen: it is reserved until the unfreeze.
    event ClaimWithheld(
        uint256 indexed distributionId, address indexed holder, address indexed payee, uint256 amount
    );
    /// @notice Unclaimed funds and rounding dust were returned to the funder; `toTreasury` when it
    /// was deposited into a treasury, else sent by a plain transfer.
    event Swept(uint256 indexed distributionId, address indexed funder, uint256 amount, bool toTreasury);

    /// @notice No distribution with that id.
    error UnknownDistribution(uint256 distributionId);
    /// @notice A push is empty or holds more than `MAX_PUSH` holders.
    error BadPush(uint256 size);

    /// @notice Most holders one `pushPayouts` may pay: about 13 million gas when every payee's
    /// settlement-token balance starts at zero, under the 16,777,216 one transaction may use.
    uint256 public constant MAX_PUSH = 200;
    /// @notice The holder already claimed this distribution.
    error AlreadyClaimed(uint256 distributionId, address holder);
    /// @notice The holder is entitled to nothing.
    error NothingToClaim(uint256 distributionId, address holder);
    /// @notice The claim deadline has passed, or the distribution was swept.
    error ClaimClosed(uint256 distributionId);
    /// @notice The claim deadline has not passed yet.
    error ClaimStillOpen(uint256 distributionId, uint64 claimDeadline);
    /// @notice Zero amount, no shares outstanding, or a deadline in the past.
    error InvalidDistribution();
    /// @notice An offering holds unsettled shares: distributions wait until it settles.
    error OfferingUnsettled(address offering);
    /// @notice The payee of a withheld payout is still frozen.
    error PayeeFrozen(uint256 distributionId, address payee);
    /// @notice The payout token delivered a different amount than was sent (a fee-on-transfer
    /// token): such a token is not supported.
    error InexactTransfer(uint256 expected, uint256 received);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param funder When not zero, receives `FUNDER_ROLE` (the property's treasury, which the
    /// `PropertyLauncher` creates after this contract and so names by its future address).
    constructor(PropertyShares shares_, IERC20 payoutToken_, address admin, address funder)
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        shares = shares_;
        payoutToken = payoutToken_;
        if (funder != address(0)) _grantRole(FUNDER_ROLE, funder);
    }

    /// @notice Pulls `amount` from the caller and opens a distribution with a record date of now.
    function createDistribution(uint256 amount, uint64 claimDeadline, bytes32 ref)
        external
        onlyRole(FUNDER_ROLE)
        nonReentrant
        returns (uint256 id)
    {
        uint256 supply = shares.totalSupply();
        if (amount == 0 || supply == 0 || claimDeadline <= block.timestamp) revert InvalidDistribution();
        address pending = shares.escrowOffering();
        if (pending != address(0)) revert OfferingUnsettled(pending);
        uint32 checkpointId = shares.createCheckpoint();
        id = _distributions.length;
        _distributions.push(
            Distribution({
                amount: amount,
                claimed: 0,
                supplyAtRecord: supply,
                funder: msg.sender,
                checkpointId: checkpointId,
                recordTime: uint64(block.timestamp),
                claimDeadline: claimDeadline,
                swept: false,
                ref: ref
            })
        );
        uint256 before = payoutToken.balanceOf(address(this));
        payoutToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = payoutToken.balanceOf(address(this)) - before;
        if (received != amount) revert InexactTransfer(amount, received);
        emit DistributionCreated(
            id, checkpointId, uint64(block.timestamp), amount, supply, claimDeadline, ref
        );
    }

    /// @notice Claims the caller's payout; returns what was paid (0 when it is withheld).
    function claim(uint256 id) external nonReentrant returns (uint256) {
        return _claim(id, msg.sender);
    }

    /// @notice Claims `holder`'s payout for it (anyone may trigger it); the money goes to the holder,
    /// or to the wallet it was recovered to.
    function claimFor(uint256 id, address holder) external nonReentrant returns (uint256) {
        return _claim(id, holder);
    }

    /// @notice Pays many holders' payouts in one transaction (anyone may push them, as with
    /// `claimFor`): a holder already paid, with nothing due, or whose payout is withheld again is
    /// skipped, so pushing a list twice pays nobody twice. Returns what was paid in all.
    function pushPayouts(uint256 id, address[] calldata holders)
        external
        nonReentrant
        returns (uint256 total)
    {
        uint256 n = holders.length;
        if (n == 0 || n > MAX_PUSH) revert BadPush(n);
        Distribution storage d = _get(id);
        if (d.swept || block.timestamp > d.claimDeadline) revert ClaimClosed(id);
        for (uint256 i = 0; i < n; i++) {
            address holder = holders[i];
            ClaimState state = _claims[id][holder];
            if (state == ClaimState.Paid) continue;
            uint256 amount = _entitlement(d, holder);
            if (amount == 0) continue;
            address payee = shares.successorOf(holder);
            if (state == ClaimState.Withheld && shares.isHolderFrozen(payee)) continue;
            total += _pay(d, id, holder, payee, state, amount);
        }
    }

    function _claim(uint256 id, address holder) private returns (uint256) {
        Distribution storage d = _get(id);
        ClaimState state = _claims[id][holder];
        if (state == ClaimState.Paid) revert AlreadyClaimed(id, holder);
        if (state == ClaimState.Unclaimed && (d.swept || block.timestamp > d.claimDeadline)) {
            revert ClaimClosed(id);
        }
        uint256 amount = _entitlement(d, holder);
        if (amount == 0) revert NothingToClaim(id, holder);
        address payee = shares.successorOf(holder);
        if (state == ClaimState.Withheld && shares.isHolderFrozen(payee)) revert PayeeFrozen(id, payee);
        return _pay(d, id, holder, payee, state, amount);
    }

    /// Pays `holder`'s `amount` to `payee`, or withholds it while the payee is frozen.
    function _pay(
        Distribution storage d,
        uint256 id,
        address holder,
        address payee,
        ClaimState state,
        uint256 amount
    ) private returns (uint256) {
        if (shares.isHolderFrozen(payee)) {
            _claims[id][holder] = ClaimState.Withheld;
            d.claimed += amount;
            emit ClaimWithheld(id, holder, payee, amount);
            return 0;
        }
        if (state == ClaimState.Unclaimed) d.claimed += amount;
        _claims[id][holder] = ClaimState.Paid;
        payoutToken.safeTransfer(payee, amount);
        emit Claimed(id, holder, payee, amount);
        return amount;
    }

    /// @notice Returns what was not claimed (including rounding dust, excluding withheld payouts)
    /// to the funder after the deadline.
    function sweep(uint256 id) external nonReentrant returns (uint256 amount) {
        Distribution storage d = _get(id);
        if (d.swept) revert ClaimClosed(id);
        if (block.timestamp <= d.claimDeadline) revert ClaimStillOpen(id, d.claimDeadline);
        d.swept = true;
        amount = d.amount - d.claimed;
        address funder = d.funder;
        bool toTreasury = _isTreasury(funder);
        if (amount != 0) {
            if (toTreasury) {
                payoutToken.forceApprove(funder, amount);
                ITreasuryDeposit(funder).deposit(amount, bytes32(id));
            } else {
                payoutToken.safeTransfer(funder, amount);
            }
        }
        emit Swept(id, funder, amount, toTreasury);
    }

    /// A funder that answers ERC-165 for `ITreasuryDeposit` books the returned funds by `deposit`;
    /// anything else (an account, a contract that does not) gets a plain transfer.
    function _isTreasury(address funder) private view returns (bool) {
        if (funder.code.length == 0) return false;
        try IERC165(funder).supportsInterface{gas: 30_000}(type(ITreasuryDeposit).interfaceId) returns (
            bool yes
        ) {
            return yes;
        } catch {
            return false;
        }
    }

    /// @notice What `holder` is entitled to from a distribution (whether claimed or not).
    function entitlement(uint256 id, address holder) external view returns (uint256) {
        return _entitlement(_get(id), holder);
    }

    /// @notice Whether `holder`'s payout was claimed (paid, or withheld for a frozen payee).
    function hasClaimed(uint256 id, address holder) external view returns (bool) {
        return _claims[id][holder] != ClaimState.Unclaimed;
    }

    /// @notice Where `holder`'s payout stands.
    function claimState(uint256 id, address holder) external view returns (ClaimState) {
        return _claims[id][holder];
    }

    /// @notice What is still held for a distribution and not reserved: unclaimed entitlements plus
    /// rounding dust (0 once swept).
    function unclaimed(uint256 id) external view returns (uint256) {
        Distribution storage d = _get(id);
        return d.swept ? 0 : d.amount - d.claimed;
    }

    /// @notice A distribution's record.
    function distribution(uint256 id) external view returns (Distribution memory) {
        return _get(id);
    }

    /// @notice Number of distributions.
    function distributionCount() external view returns (uint256) {
        return _distributions.length;
    }

    function _entitlement(Distribution storage d, address holder) private view returns (uint256) {
        uint256 balance = shares.balanceOfAt(holder, d.checkpointId);
        return Math.mulDiv(balance, d.amount, d.supplyAtRecord);
    }

    function _get(uint256 id) private view returns (Distribution storage) {
        if (id >= _distributions.length) revert UnknownDistribution(id);
        return _distributions[id];
    }
}
