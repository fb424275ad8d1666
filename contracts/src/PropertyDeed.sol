// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title PropertyDeed
/// @notice One ERC-721 token per property. The token URI points at the property's metadata (legal
/// documents, parcel id, valuation) and the metadata's hash is kept on chain so anyone can check
/// the document they were served. Only the registrar mints; deeds move only between custody
/// addresses, at the hands of a custodian (custody changes and the final sale).
contract PropertyDeed is ERC721, AccessControlDefaultAdminRules, IERC4906 {
    /// @notice Role that mints deeds and updates their metadata.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role that may move a deed (custody change or exit).
    bytes32 public constant CUSTODIAN_ROLE = keccak256("CUSTODIAN_ROLE");

    struct Deed {
        bytes32 metadataHash;
        bytes32 parcelId;
        string uri;
    }

    mapping(uint256 tokenId => Deed) private _deeds;
    uint256 private _nextId = 1;

    /// @notice A deed was minted.
    event DeedMinted(
        uint256 indexed tokenId, address indexed custodian, bytes32 parcelId, bytes32 metadataHash, string uri
    );
    /// @notice A deed's metadata changed (new valuation, documents).
    event DeedMetadataChanged(uint256 indexed tokenId, bytes32 metadataHash, string uri);

    /// @notice A deed transfer was attempted by someone who is not a custodian.
    error DeedTransferRestricted(uint256 tokenId, address caller);
    /// @notice The metadata hash or URI is empty.
    error InvalidMetadata();

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps), who
    /// also mints deeds and is their first custodian.
    constructor(address admin)
        ERC721("PropLedger Property Deed", "DEED")
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        _grantRole(REGISTRAR_ROLE, admin);
        _grantRole(CUSTODIAN_ROLE, admin);
    }

    /// @notice Mints the deed of a new property to a custody address and returns its token id.
    function mintDeed(address custodian, bytes32 parcelId, bytes32 documentHash, string calldata uri)
        external
        onlyRole(REGISTRAR_ROLE)
        returns (uint256 tokenId)
    {
        if (documentHash == bytes32(0) || bytes(uri).length == 0) revert InvalidMetadata();
        tokenId = _nextId++;
        _deeds[tokenId] = Deed(documentHash, parcelId, uri);
        _safeMint(custodian, tokenId);
        emit DeedMinted(tokenId, custodian, parcelId, documentHash, uri);
    }

    /// @notice Replaces a deed's metadata (and its hash).
    function setMetadata(uint256 tokenId, bytes32 documentHash, string calldata uri)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        _requireOwned(tokenId);
        if (documentHash == bytes32(0) || bytes(uri).length == 0) revert InvalidMetadata();
        Deed storage d = _deeds[tokenId];
        d.metadataHash = documentHash;
        d.uri = uri;
        emit DeedMetadataChanged(tokenId, documentHash, uri);
        emit MetadataUpdate(tokenId);
    }

    /// @notice A deed's record.
    function deed(uint256 tokenId) external view returns (Deed memory) {
        _requireOwned(tokenId);
        return _deeds[tokenId];
    }

    /// @notice The hash of a deed's metadata document.
    function metadataHash(uint256 tokenId) external view returns (bytes32) {
        _requireOwned(tokenId);
        return _deeds[tokenId].metadataHash;
    }

    /// @notice Number of deeds minted.
    function totalMinted() external view returns (uint256) {
        return _nextId - 1;
    }

    /// @inheritdoc ERC721
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return _deeds[tokenId].uri;
    }

    /// @dev Transfers (not mints) require the custodian role of the caller.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && !hasRole(CUSTODIAN_ROLE, msg.sender)) {
            revert DeedTransferRestricted(tokenId, msg.sender);
        }
        return super._update(to, tokenId, auth);
    }

    /// @inheritdoc ERC721
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, AccessControlDefaultAdminRules, IERC165)
        returns (bool)
    {
        return interfaceId == bytes4(0x49064906) || super.supportsInterface(interfaceId);
    }
}
