// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC721Metadata} from "@openzeppelin/contracts/token/ERC721/extensions/IERC721Metadata.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {UnitBase} from "./UnitBase.sol";
import {PropertyDeed} from "../../src/PropertyDeed.sol";

/// A custody contract that accepts deeds.
contract DeedVault is IERC721Receiver {
    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return IERC721Receiver.onERC721Received.selector;
    }
}

contract PropertyDeedTest is UnitBase {
    bytes32 internal constant PARCEL = bytes32("APN-002");
    bytes32 internal constant DOC = keccak256("metadata-2");
    string internal constant URI = "ipfs://deed/2";

    address internal custodian2 = makeAddr("custodian2");
    address internal outsider = makeAddr("outsider"); // holds a deed but has no custodian role
    DeedVault internal vault;

    function setUp() public override {
        super.setUp();
        vault = new DeedVault();
        bytes32 role = deed.CUSTODIAN_ROLE();
        vm.prank(admin);
        deed.grantRole(role, custodian2);
    }

    function _mintDeed(address to) internal returns (uint256 id) {
        id = deed.totalMinted() + 1;
        vm.prank(admin);
        deed.mintDeed(id, to, PARCEL, DOC, URI);
    }

    function _nonexistent(uint256 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, id);
    }

    // ---- constructor, metadata, interfaces

    function test_constructor_nameSymbolRoles() public view {
        assertEq(deed.name(), "PropLedger Property Deed");
        assertEq(deed.symbol(), "DEED");
        assertTrue(deed.hasRole(deed.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(deed.hasRole(deed.REGISTRAR_ROLE(), admin));
        assertTrue(deed.hasRole(deed.CUSTODIAN_ROLE(), admin));
    }

    function test_fixtureDeedIsRecorded() public view {
        assertEq(propertyId, 1);
        assertEq(deed.totalMinted(), 1);
        assertEq(deed.ownerOf(1), admin);
        assertEq(deed.tokenURI(1), "ipfs://deed/1");
        assertEq(deed.metadataHash(1), keccak256("metadata"));
        PropertyDeed.Deed memory d = deed.deed(1);
        assertEq(d.parcelId, bytes32("APN-001"));
        assertEq(d.metadataHash, keccak256("metadata"));
        assertEq(d.uri, "ipfs://deed/1");
    }

    function test_supportsInterface_erc4906AndOthers() public view {
        assertTrue(deed.supportsInterface(bytes4(0x49064906)));
        assertTrue(deed.supportsInterface(type(IERC721).interfaceId));
        assertTrue(deed.supportsInterface(type(IERC721Metadata).interfaceId));
        assertTrue(deed.supportsInterface(type(IAccessControl).interfaceId));
        assertTrue(deed.supportsInterface(type(IERC165).interfaceId));
        assertFalse(deed.supportsInterface(0xffffffff));
    }

    // ---- mintDeed

    function test_mintDeed_emitsTransferAndDeedMinted() public {
        vm.expectEmit(address(deed));
        emit IERC721.Transfer(address(0), address(vault), 2);
        vm.expectEmit(address(deed));
        emit PropertyDeed.DeedMinted(2, address(vault), PARCEL, DOC, URI);
        uint256 id = _mintDeed(address(vault));

        assertEq(id, 2);
        assertEq(deed.ownerOf(2), address(vault));
        assertEq(deed.totalMinted(), 2);
        assertEq(deed.tokenURI(2), URI);
        assertEq(deed.metadataHash(2), DOC);
        assertEq(deed.deed(2).parcelId, PARCEL);
    }

    function test_mintDeed_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, deed.REGISTRAR_ROLE()));
        vm.prank(mallory);
        deed.mintDeed(2, mallory, PARCEL, DOC, URI);
    }

    function test_mintDeed_revertsForZeroHash() public {
        vm.expectRevert(PropertyDeed.InvalidMetadata.selector);
        vm.prank(admin);
        deed.mintDeed(2, admin, PARCEL, bytes32(0), URI);
    }

    function test_mintDeed_revertsForEmptyUri() public {
        vm.expectRevert(PropertyDeed.InvalidMetadata.selector);
        vm.prank(admin);
        deed.mintDeed(2, admin, PARCEL, DOC, "");
    }

    function test_mintDeed_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721InvalidReceiver.selector, address(0)));
        vm.prank(admin);
        deed.mintDeed(2, address(0), PARCEL, DOC, URI);
    }

    function test_mintDeed_revertsToContractThatRejectsDeeds() public {
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721InvalidReceiver.selector, address(usd)));
        vm.prank(admin);
        deed.mintDeed(2, address(usd), PARCEL, DOC, URI);
    }

    function test_mintDeed_revertsForAnIdMintedBefore() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedExists.selector, 1));
        vm.prank(admin);
        deed.mintDeed(1, custodian2, PARCEL, DOC, URI);
        // The first deed is untouched.
        assertEq(deed.ownerOf(1), admin);
        assertEq(deed.metadataHash(1), keccak256("metadata"));
        assertEq(deed.totalMinted(), 1);
    }

    function test_mintDeed_revertsForIdZero() public {
        vm.expectRevert(PropertyDeed.ZeroTokenId.selector);
        vm.prank(admin);
        deed.mintDeed(0, admin, PARCEL, DOC, URI);
    }

    function test_mintDeed_takesAnyUnusedId() public {
        uint256 id = uint256(type(uint128).max) - 7; // a UUID-sized id
        vm.prank(admin);
        deed.mintDeed(id, custodian2, PARCEL, DOC, URI);
        assertEq(deed.ownerOf(id), custodian2);
        assertEq(deed.totalMinted(), 2);
        vm.prank(admin);
        deed.mintDeed(2, custodian2, PARCEL, DOC, URI);
        assertEq(deed.totalMinted(), 3);
    }

    // ---- setMetadata

    function test_setMetadata_emitsChangeAndErc4906Update() public {
        vm.expectEmit(address(deed));
        emit PropertyDeed.DeedMetadataChanged(1, DOC, URI);
        vm.expectEmit(address(deed));
        emit IERC4906.MetadataUpdate(1);
        vm.prank(admin);
        deed.setMetadata(1, DOC, URI);

        assertEq(deed.tokenURI(1), URI);
        assertEq(deed.metadataHash(1), DOC);
        assertEq(deed.deed(1).parcelId, bytes32("APN-001")); // the parcel never changes
    }

    function test_setMetadata_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, deed.REGISTRAR_ROLE()));
        vm.prank(mallory);
        deed.setMetadata(1, DOC, URI);
    }

    function test_setMetadata_revertsForNonexistentDeed() public {
        vm.expectRevert(_nonexistent(99));
        vm.prank(admin);
        deed.setMetadata(99, DOC, URI);
    }

    function test_setMetadata_revertsForZeroHash() public {
        vm.expectRevert(PropertyDeed.InvalidMetadata.selector);
        vm.prank(admin);
        deed.setMetadata(1, bytes32(0), URI);
    }

    function test_setMetadata_revertsForEmptyUri() public {
        vm.expectRevert(PropertyDeed.InvalidMetadata.selector);
        vm.prank(admin);
        deed.setMetadata(1, DOC, "");
    }

    // ---- views of unknown deeds

    function test_tokenURI_revertsForNonexistentDeed() public {
        vm.expectRevert(_nonexistent(2));
        deed.tokenURI(2);
    }

    function test_deed_revertsForNonexistentDeed() public {
        vm.expectRevert(_nonexistent(0));
        deed.deed(0);
    }

    function test_metadataHash_revertsForNonexistentDeed() public {
        vm.expectRevert(_nonexistent(2));
        deed.metadataHash(2);
    }

    // ---- transfers

    function test_transferFrom_byCustodianOwner() public {
        vm.expectEmit(address(deed));
        emit IERC721.Transfer(admin, address(vault), 1);
        vm.prank(admin);
        deed.transferFrom(admin, address(vault), 1);
        assertEq(deed.ownerOf(1), address(vault));
    }

    function test_safeTransferFrom_byCustodianOwner() public {
        vm.prank(admin);
        deed.safeTransferFrom(admin, address(vault), 1);
        assertEq(deed.ownerOf(1), address(vault));
    }

    function test_transferFrom_byCustodianApprovedByOwner() public {
        uint256 id = _mintDeed(outsider);
        vm.prank(outsider);
        deed.approve(custodian2, id); // approving is not a transfer
        vm.prank(custodian2);
        deed.transferFrom(outsider, address(vault), id);
        assertEq(deed.ownerOf(id), address(vault));
    }

    function test_transferFrom_revertsForNonCustodianOwner() public {
        uint256 id = _mintDeed(outsider);
        vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedTransferRestricted.selector, id, outsider));
        vm.prank(outsider);
        deed.transferFrom(outsider, mallory, id);
    }

    function test_safeTransferFrom_revertsForNonCustodianOwner() public {
        uint256 id = _mintDeed(outsider);
        vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedTransferRestricted.selector, id, outsider));
        vm.prank(outsider);
        deed.safeTransferFrom(outsider, mallory, id);
    }

    function test_transferFrom_revertsForApprovedNonCustodian() public {
        vm.prank(admin);
        deed.approve(mallory, 1);
        vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedTransferRestricted.selector, 1, mallory));
        vm.prank(mallory);
        deed.transferFrom(admin, mallory, 1);
    }

    function test_transferFrom_revertsForCustodianWithoutApproval() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC721Errors.ERC721InsufficientApproval.selector, custodian2, 1)
        );
        vm.prank(custodian2);
        deed.transferFrom(admin, custodian2, 1);
    }

    function test_transferFrom_revertsForNonexistentDeed() public {
        vm.expectRevert(_nonexistent(7));
        vm.prank(admin);
        deed.transferFrom(admin, custodian2, 7);
    }

    function test_transferFrom_revertsWhenCustodianRoleRevoked() public {
        bytes32 role = deed.CUSTODIAN_ROLE();
        vm.prank(admin);
        deed.revokeRole(role, custodian2);
        vm.prank(admin);
        deed.approve(custodian2, 1);
        vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedTransferRestricted.selector, 1, custodian2));
        vm.prank(custodian2);
        deed.transferFrom(admin, custodian2, 1);
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = deed.CUSTODIAN_ROLE();
        vm.expectRevert(_unauthorized(mallory, deed.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        deed.grantRole(role, mallory);
    }

    // ---- fuzz

    function testFuzz_mintDeed_roundTripsMetadata(
        address to,
        bytes32 parcel,
        bytes32 doc,
        string calldata uri
    ) public {
        vm.assume(to != address(0) && to.code.length == 0);
        vm.assume(doc != bytes32(0) && bytes(uri).length != 0);
        uint256 id = 2;
        vm.prank(admin);
        deed.mintDeed(id, to, parcel, doc, uri);
        assertEq(deed.totalMinted(), 2);
        assertEq(deed.ownerOf(id), to);
        assertEq(deed.tokenURI(id), uri);
        PropertyDeed.Deed memory d = deed.deed(id);
        assertEq(d.parcelId, parcel);
        assertEq(d.metadataHash, doc);
        assertEq(d.uri, uri);
    }

    function testFuzz_transferFrom_onlyCustodiansMoveDeeds(address caller) public {
        vm.assume(caller != address(0));
        vm.prank(admin);
        deed.setApprovalForAll(caller, true);
        bool isCustodian = deed.hasRole(deed.CUSTODIAN_ROLE(), caller);
        if (!isCustodian) {
            vm.expectRevert(abi.encodeWithSelector(PropertyDeed.DeedTransferRestricted.selector, 1, caller));
        }
        vm.prank(caller);
        deed.transferFrom(admin, custodian2, 1);
        assertEq(deed.ownerOf(1), isCustodian ? custodian2 : admin);
    }
}
