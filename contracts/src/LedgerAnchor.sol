// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title LedgerAnchor
/// @notice Records the platform's books on chain: after `entries` posted entries, the ledger's
/// hash chain ends in `headHash`, and the published documents' hashes have the Merkle root
/// `documentsRoot`. An entry edited, deleted or reordered in the database, or a ledger rewritten
/// with every later hash recomputed, no longer ends in the hash the chain recorded for that
/// count, so anyone holding the books can check them against the chain without trusting the
/// database. Anchors only move forward.
contract LedgerAnchor is AccessControlDefaultAdminRules {
    /// @notice Role that records anchors (the node's key).
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    /// @notice Posted entries covered by the latest anchor.
    uint64 public lastEntries;
    /// @notice Anchors recorded.
    uint256 public count;

    /// @notice The books after `entries` posted entries end in `headHash`; the documents
    /// published by then have the Merkle root `documentsRoot` (zero when none).
    event Anchored(uint256 indexed index, uint64 indexed entries, bytes32 headHash, bytes32 documentsRoot);

    /// @notice An anchor must cover more entries than the latest one.
    error NotForward(uint64 entries, uint64 lastEntries);
    /// @notice A head hash is zero.
    error ZeroHash();

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param anchorer Who records anchors.
    constructor(address admin, address anchorer) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {
        _grantRole(ANCHOR_ROLE, anchorer);
    }

    /// @notice Records that the books' first `entries` posted entries end in `headHash`.
    function anchor(uint64 entries, bytes32 headHash, bytes32 documentsRoot) external onlyRole(ANCHOR_ROLE) {
        if (entries <= lastEntries) revert NotForward(entries, lastEntries);
        if (headHash == bytes32(0)) revert ZeroHash();
        lastEntries = entries;
        emit Anchored(count, entries, headHash, documentsRoot);
        count += 1;
    }
}
