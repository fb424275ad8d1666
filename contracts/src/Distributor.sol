// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PropertyShares} from "./PropertyShares.sol";

interface ITreasuryDeposit {
    function deposit(uint256 amount, bytes32 ref) external;
}

/// @title Distributor
/// @notice Pays distributions to one property's shareholders pro rata to their balances at a record
/// date (a share-token checkpoint taken when the distribution is funded). Holders claim; each
/// entitlement is rounded down, so the rounding dust and anything never claimed stay in the
/// distribution and are returned to the funder by `sweep` after the claim deadline.
contract Distributor is AccessControl {
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
        uint256 claimed; // paid out so far
        uint256 supplyAtRecord; // share total supply at the record date
        address funder; // where unclaimed funds return
        uint32 checkpointId;
        uint64 recordTime;
        uint64 claimDeadline;
        bool swept;
        bytes32 ref;
    }

    Distribution[] private _distributions;
    mapping(uint256 id => mapping(address holder => bool)) private _claimed;

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
    /// @notice A holder's payout was paid.
    event Claimed(uint256 indexed distributionId, address indexed holder, uint256 amount);
    /// @notice Unclaimed funds and rounding dust were returned to the funder.
    event Swept(uint256 indexed distributionId, address indexed funder, uint256 amount);

    /// @notice No distribution with that id.
    error UnknownDistribution(uint256 distributionId);
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

    constructor(PropertyShares shares_, IERC20 payoutToken_, address admin) {
        shares = shares_;
        payoutToken = payoutToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Pulls `amount` from the caller and opens a distribution with a record date of now.
    function createDistribution(uint256 amount, uint64 claimDeadline, bytes32 ref)
        external
        onlyRole(FUNDER_ROLE)
        returns (uint256 id)
    {
        uint256 supply = shares.totalSupply();
        if (amount == 0 || supply == 0 || claimDeadline <= block.timestamp) revert InvalidDistribution();
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
        payoutToken.safeTransferFrom(msg.sender, address(this), amount);
        emit DistributionCreated(id, checkpointId, uint64(block.timestamp), amount, supply, claimDeadline, ref);
    }

    /// @notice Pays the caller's payout.
    function claim(uint256 id) external returns (uint256) {
        return _claim(id, msg.sender);
    }

    /// @notice Pays `holder`'s payout to `holder` (anyone may trigger it).
    function claimFor(uint256 id, address holder) external returns (uint256) {
        return _claim(id, holder);
    }

    function _claim(uint256 id, address holder) private returns (uint256 amount) {
        Distribution storage d = _get(id);
        if (d.swept || block.timestamp > d.claimDeadline) revert ClaimClosed(id);
        if (_claimed[id][holder]) revert AlreadyClaimed(id, holder);
        amount = _entitlement(d, holder);
        if (amount == 0) revert NothingToClaim(id, holder);
        _claimed[id][holder] = true;
        d.claimed += amount;
        payoutToken.safeTransfer(holder, amount);
        emit Claimed(id, holder, amount);
    }

    /// @notice Returns what was not claimed (including rounding dust) to the funder after the deadline.
    function sweep(uint256 id) external returns (uint256 amount) {
        Distribution storage d = _get(id);
        if (d.swept) revert ClaimClosed(id);
        if (block.timestamp <= d.claimDeadline) revert ClaimStillOpen(id, d.claimDeadline);
        d.swept = true;
        amount = d.amount - d.claimed;
        if (amount != 0) {
            payoutToken.forceApprove(d.funder, amount);
            ITreasuryDeposit(d.funder).deposit(amount, bytes32(id));
        }
        emit Swept(id, d.funder, amount);
    }

    /// @notice What `holder` is entitled to from a distribution (whether claimed or not).
    function entitlement(uint256 id, address holder) external view returns (uint256) {
        return _entitlement(_get(id), holder);
    }

    /// @notice Whether `holder` has claimed.
    function hasClaimed(uint256 id, address holder) external view returns (bool) {
        return _claimed[id][holder];
    }

    /// @notice What is still held for a distribution: unclaimed entitlements plus rounding dust.
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
