// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// The hooks of an ERC-777-style token: called on the holder before its tokens move, and on the
/// recipient after they arrived.
interface ITokensToSend {
    function tokensToSend(address operator, address from, address to, uint256 amount) external;
    function tokensReceived(address operator, address from, address to, uint256 amount) external;
}

/// A settlement token with ERC-777-style hooks: an address that registered a hook (as with ERC-1820
/// in ERC-777) is called back with `tokensToSend` before its tokens move and with `tokensReceived`
/// after tokens reach it, which lets it re-enter whatever moved them.
contract HookToken is ERC20 {
    mapping(address => bool) public hooked;

    constructor() ERC20("Hooked USD", "hUSD") {}

    function registerHook() external {
        hooked[msg.sender] = true;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (hooked[from]) {
            ITokensToSend(from).tokensToSend(msg.sender, from, to, value);
        }
        super._update(from, to, value);
        if (hooked[to]) {
            ITokensToSend(to).tokensReceived(msg.sender, from, to, value);
        }
    }
}

/// A token that keeps a 1% fee out of every transfer (the recipient gets 99%).
contract FeeToken is ERC20 {
    constructor() ERC20("Fee USD", "fUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = value / 100;
        super._update(from, address(0xFEE), fee);
        super._update(from, to, value - fee);
    }
}

/// An investor wallet that is a contract: during one call (`target` with `data`), the first token
/// hook it gets (paying or being paid) makes it send `reentry` to `reentryTarget` once. A failed
/// re-entry is swallowed, so the outer call goes on either way.
contract Reenterer is ITokensToSend {
    address internal reentryTarget;
    bytes internal reentry;
    bool internal armed;
    /// Whether the re-entrant call succeeded, and what it returned or reverted with.
    bool public reentered;
    bytes public reentryResult;

    function approve(HookToken token, address spender) external {
        token.approve(spender, type(uint256).max);
        token.registerHook();
    }

    /// Calls `target` with `data`, re-entering `reentryTarget_` with `reentry_` from the token hook.
    function attack(address target, bytes calldata data, address reentryTarget_, bytes calldata reentry_)
        external
        returns (bool ok, bytes memory result)
    {
        reentryTarget = reentryTarget_;
        reentry = reentry_;
        reentered = false;
        delete reentryResult;
        armed = true;
        (ok, result) = target.call(data);
        armed = false;
    }

    function tokensToSend(address, address, address, uint256) external {
        _reenter();
    }

    function tokensReceived(address, address, address, uint256) external {
        _reenter();
    }

    function _reenter() internal {
        if (!armed) return;
        armed = false;
        (reentered, reentryResult) = reentryTarget.call(reentry);
    }

    /// Any other call (a plain call from a test) is forwarded as this wallet.
    function exec(address target, bytes calldata data) external returns (bool ok, bytes memory result) {
        (ok, result) = target.call(data);
    }
}

/// What a hijacked distribution funding would pay: it pulls what it was approved for and keeps it.
contract Siphon {
    address internal immutable thief;

    constructor(address thief_) {
        thief = thief_;
    }

    function createDistribution(uint256 amount, uint64, bytes32) external returns (uint256) {
        IERC20(Token(msg.sender).settlementToken()).transferFrom(msg.sender, thief, amount);
        return 0;
    }
}

interface Token {
    function settlementToken() external view returns (address);
}

/// ERC-20 tooling that pays several recipients in one call (a payout script, a disperse contract).
contract BatchSender {
    function send(IERC20 token, address from, address[] calldata to, uint256[] calldata amounts) external {
        for (uint256 i = 0; i < to.length; i++) {
            require(token.transferFrom(from, to[i], amounts[i]), "transfer returned false");
        }
    }
}
