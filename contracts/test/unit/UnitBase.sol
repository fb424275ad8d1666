// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Fixture} from "../utils/Fixture.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";

/// Small helpers shared by the unit tests: rule setters, agent/registrar actions and the exact
/// revert payloads the contracts use.
abstract contract UnitBase is Fixture {
    uint64 internal aliceNo;
    uint64 internal bobNo;
    uint64 internal carolNo;

    function setUp() public virtual override {
        super.setUp();
        aliceNo = registry.investor(ALICE).no;
        bobNo = registry.investor(BOB).no;
        carolNo = registry.investor(CAROL).no;
    }

    // ------------------------------------------------------------ revert payloads

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _restricted(uint8 code) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PropertyShares.TransferRestricted.selector, code);
    }

    // ------------------------------------------------------------ compliance rules

    function _setRules(
        bool accreditedOnly,
        bool countriesRestricted,
        uint32 maxInvestors,
        uint64 lockupUntil,
        uint128 maxBalancePerInvestor,
        uint128 minHolding
    ) internal {
        vm.prank(rulesAdmin);
        compliance.setRules(
            ShareCompliance.Rules({
                accreditedOnly: accreditedOnly,
                countriesRestricted: countriesRestricted,
                maxInvestors: maxInvestors,
                lockupUntil: lockupUntil,
                maxBalancePerInvestor: maxBalancePerInvestor,
                minHolding: minHolding
            })
        );
    }

    function _clearRules() internal {
        _setRules(false, false, 0, 0, 0, 0);
    }

    function _setCountry(uint16 country, bool allowed) internal {
        uint16[] memory list = new uint16[](1);
        list[0] = country;
        vm.prank(rulesAdmin);
        compliance.setCountries(list, allowed);
    }

    // ------------------------------------------------------------ registry actions

    function _freezeInvestor(bytes32 id, bool frozen) internal {
        vm.prank(registrar);
        registry.setInvestorFrozen(id, frozen);
    }

    /// Rewrites an investor's record with a new KYC expiry, keeping country and accreditation.
    function _setKycExpiry(bytes32 id, uint64 expiry) internal {
        IdentityRegistry.Investor memory inv = registry.investor(id);
        vm.prank(registrar);
        registry.setInvestor(id, inv.country, inv.accredited, expiry);
    }

    function _setAccredited(bytes32 id, bool accredited) internal {
        IdentityRegistry.Investor memory inv = registry.investor(id);
        vm.prank(registrar);
        registry.setInvestor(id, inv.country, accredited, inv.kycExpiry);
    }

    /// Unlinks `wallet` from its investor and links it to `newInvestor`.
    function _reassignWallet(address wallet, bytes32 newInvestor) internal {
        vm.startPrank(registrar);
        registry.removeWallet(wallet);
        registry.addWallet(wallet, newInvestor);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ share agent actions

    function _pause(bool paused) internal {
        vm.prank(agent);
        if (paused) shares.pause();
        else shares.unpause();
    }

    function _freezeAddress(address wallet, bool frozen) internal {
        vm.prank(agent);
        shares.setAddressFrozen(wallet, frozen);
    }

    function _freezePartial(address wallet, uint256 amount) internal {
        vm.prank(agent);
        shares.freezePartialTokens(wallet, amount);
    }

    /// Asserts `canTransfer` returns `code` and that `transfer` behaves accordingly: it reverts with
    /// `TransferRestricted(code)` when the code is non-zero and moves the shares when it is zero.
    function _expectTransferCode(address from, address to, uint256 amount, uint8 code) internal {
        assertEq(shares.canTransfer(from, to, amount), code, "canTransfer code");
        assertEq(shares.detectTransferRestriction(from, to, amount), code, "detectTransferRestriction code");
        if (code != 0) {
            vm.expectRevert(_restricted(code));
            vm.prank(from);
            shares.transfer(to, amount);
        } else {
            uint256 fromBefore = shares.balanceOf(from);
            uint256 toBefore = shares.balanceOf(to);
            vm.prank(from);
            assertTrue(shares.transfer(to, amount));
            if (from != to) {
                assertEq(shares.balanceOf(from), fromBefore - amount, "sender balance");
                assertEq(shares.balanceOf(to), toBefore + amount, "recipient balance");
            }
        }
    }

    /// Same as `_expectTransferCode`, for `canMint` and `mint`.
    function _expectMintCode(address to, uint256 amount, uint8 code) internal {
        assertEq(shares.canMint(to, amount), code, "canMint code");
        if (code != 0) {
            vm.expectRevert(_restricted(code));
            vm.prank(admin);
            shares.mint(to, amount);
        } else {
            uint256 before = shares.balanceOf(to);
            vm.prank(admin);
            shares.mint(to, amount);
            assertEq(shares.balanceOf(to), before + amount, "recipient balance");
        }
    }

    /// Bob buys the rest up to the soft cap, which settles every share the fixture offering sold.
    function _reachSoftCap() internal {
        uint256 left = SOFT_CAP - offering.raised();
        _buy(bob, left * 1e18 / PRICE);
        assertTrue(offering.softCapReached(), "soft cap reached");
    }

    /// Gives `who` settlement tokens and lets the treasury pull them, then deposits `amount`.
    function _depositToTreasury(address who, uint256 amount) internal {
        vm.prank(admin);
        usd.mint(who, amount);
        vm.startPrank(who);
        usd.approve(address(treasury), amount);
        treasury.deposit(amount, bytes32("rent"));
        vm.stopPrank();
    }
}
